"""Revert data decodes into the named exception class, never a hex blob."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.chain import errors as E
from adapters.chain.abi_types import abi_type
from adapters.chain.toolchain import compile_contracts
from adapters.chain.types import SessionState

ACCOUNT = "0x" + "ab" * 20


def _compiled_errors() -> list[tuple[str, dict[str, Any]]]:
    return [
        (artifact.name, item)
        for artifact in compile_contracts().values()
        for item in artifact.abi
        if item["type"] == "error"
    ]


def _sample(abi_type: str) -> Any:
    """A value of ``abi_type`` that survives an encode/decode round trip unchanged."""
    if abi_type == "address":
        return to_checksum_address(ACCOUNT)
    if abi_type.startswith("bytes") and abi_type != "bytes":
        return b"\x07" * int(abi_type[5:])
    if abi_type == "bool":
        return True
    if abi_type == "string":
        return "why"
    return 1  # every (u)intN, and uint8 enums (1 = OPEN)


def test_every_error_of_every_compiled_contract_maps_to_one_class_and_decodes() -> None:
    errors = _compiled_errors()
    assert len({item["name"] for _, item in errors}) >= 70
    by_signature: dict[str, type[E.ContractRevert]] = {}
    for contract, item in errors:
        types = [abi_type(i) for i in item["inputs"]]
        signature = f"{item['name']}({','.join(types)})"
        cls = getattr(E, item["name"])
        assert cls.signature == signature, f"{contract}.{signature}"
        assert by_signature.setdefault(signature, cls) is cls, f"two classes for {signature}"
        values = [_sample(t) for t in types]
        exc = E.decode_revert(cls.selector + encode(types, values), where=contract)
        assert isinstance(exc, cls), f"{contract}.{signature} decoded as {type(exc).__name__}"
        names = [i["name"] for i in item["inputs"]]
        assert [exc.fields[n] for n in names] == values
    classes = set(by_signature.values())
    assert len(classes) == len(by_signature)  # one class per error, one error per class


def test_error_classes_are_generated_from_the_abi_not_written_by_hand() -> None:
    assert "FlexMarketBudgetExceeded" not in E.__dict__  # generated on first use
    assert E.FlexMarketBudgetExceeded.__module__ == "adapters.chain.errors"
    with pytest.raises(AttributeError):
        E.NoSuchSolidityError  # noqa: B018


def test_not_in_state_with_expected_open_is_session_not_open() -> None:
    data = E.FlexMarketNotInState.selector + encode(
        ["bytes32", "uint8", "uint8"], [b"\x01" * 32, 1, 2]
    )
    exc = E.decode_revert(data, where="FlexMarket.postRequest")
    assert type(exc) is E.SessionNotOpen
    assert isinstance(exc, E.FlexMarketNotInState) and isinstance(exc, E.WrongState)
    assert exc.expected is SessionState.OPEN and exc.actual is SessionState.CLOSED
    assert str(exc) == (
        "FlexMarketNotInState(sessionId=0x" + "01" * 32 + ", expected=OPEN, actual=CLOSED)"
        " in FlexMarket.postRequest"
    )


def test_not_in_state_with_another_expected_state_stays_generic() -> None:
    data = E.FlexMarketNotInState.selector + encode(
        ["bytes32", "uint8", "uint8"], [b"\x01" * 32, 3, 2]
    )
    exc = E.decode_revert(data)
    assert type(exc) is E.FlexMarketNotInState


@pytest.mark.parametrize(
    ("cls", "group"),
    [
        (E.AccessControlUnauthorizedAccount, E.NotAuthorized),
        (E.FlexMarketNotParty, E.NotAuthorized),
        (E.FlexMarketTooLate, E.GateClosed),
        (E.FlexMarketTooEarly, E.TooEarly),
        (E.FlexMarketBudgetExceeded, E.BudgetExceeded),
        (E.ERC20InsufficientAllowance, E.BudgetExceeded),
        (E.FlexMarketNothingToWithdraw, E.NothingToWithdraw),
        (E.FlexMarketAlreadyFinalized, E.WrongState),
        (E.FlexMarketZeroBudget, E.InvalidArgument),
    ],
)
def test_errors_belong_to_their_friendly_group(cls: type, group: type) -> None:
    assert issubclass(cls, group) and issubclass(cls, E.ContractRevert)


def test_access_control_error_names_the_role_and_checksums_the_account() -> None:
    data = E.AccessControlUnauthorizedAccount.selector + encode(
        ["address", "bytes32"], [ACCOUNT, keccak(text="DSO_ROLE")]
    )
    exc = E.decode_revert(data)
    assert isinstance(exc, E.AccessControlUnauthorizedAccount)
    assert exc.account == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    assert "neededRole=DSO_ROLE(" in str(exc)


def test_hex_string_input_and_pickling_keep_the_class() -> None:
    data = "0x" + (E.FlexMarketNothingToWithdraw.selector + encode(["address"], [ACCOUNT])).hex()
    exc = E.decode_revert(data)
    assert isinstance(exc, E.NothingToWithdraw)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc) and str(again) == str(exc)


def test_panic_and_reason_string_are_decoded() -> None:
    panic = E.decode_revert(E.Panic.selector + encode(["uint256"], [0x11]))
    assert isinstance(panic, E.Panic) and "overflow" in str(panic)
    reason = E.decode_revert(E.RevertWithReason.selector + encode(["string"], ["nope"]))
    assert isinstance(reason, E.RevertWithReason) and reason.reason == "nope"


def test_unknown_selector_and_empty_data_say_so_without_dumping_data() -> None:
    unknown = E.decode_revert(bytes.fromhex("deadbeef") + b"\x00" * 64)
    assert isinstance(unknown, E.UnknownRevert)
    assert str(unknown) == "reverted with an unknown error (selector 0xdeadbeef)"
    assert str(E.decode_revert(b"")) == "reverted without data"


def test_truncated_arguments_fall_back_to_unknown() -> None:
    exc = E.decode_revert(E.FlexMarketBudgetExceeded.selector + b"\x00" * 10)
    assert isinstance(exc, E.UnknownRevert)


def test_errors_of_a_runtime_abi_get_generated_classes() -> None:
    abi = [
        {
            "type": "error",
            "name": "SomeVaultLocked",
            "inputs": [{"name": "until", "type": "uint64"}],
        }
    ]
    (cls,) = E.register_abi_errors(abi)
    exc = E.decode_revert(cls.selector + encode(["uint64"], [42]))
    assert type(exc) is cls and exc.until == 42 and str(exc) == "SomeVaultLocked(until=42)"


def test_every_name_in_the_group_table_is_a_compiled_error() -> None:
    from adapters.chain.error_groups import GROUP_OF

    compiled = {item["name"] for _, item in _compiled_errors()}
    assert sorted(set(GROUP_OF) - compiled) == []
