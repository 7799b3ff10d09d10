"""Revert data decodes into the named exception class, never a hex blob."""

from __future__ import annotations

import pickle

import pytest
from eth_abi import encode
from eth_utils import keccak

from adapters.chain import errors as E
from adapters.chain.toolchain import compile_contracts
from adapters.chain.types import SessionState

ACCOUNT = "0x" + "ab" * 20


def test_every_custom_error_of_every_compiled_contract_has_a_static_class() -> None:
    missing = []
    for artifact in compile_contracts().values():
        for item in artifact.abi:
            if item["type"] != "error":
                continue
            cls = E.__dict__.get(item["name"])
            types = ",".join(i["type"] for i in item["inputs"])
            if cls is None or cls.signature != f"{item['name']}({types})":
                missing.append(f"{artifact.name}.{item['name']}({types})")
    assert missing == [], "add an @_error class per new Solidity error in adapters/chain/errors.py"


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
