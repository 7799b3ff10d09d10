"""Every contract function has its typed wrapper method (catches ABI drift early)."""

from __future__ import annotations

import pytest

from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.naive import NaiveMarketContract
from adapters.chain.positions import FlexPositionsContract
from adapters.chain.session_view import ChainRequest, ChainSession
from adapters.chain.token import SettlementTokenContract
from adapters.chain.toolchain import compile_contracts
from adapters.chain.types import snake_case

# Solidity names whose Python method is spelled differently on purpose.
ALIASES = {
    "DOMAIN_SEPARATOR": "domain_separator",
    "eip712Domain": None,  # read by eth-account, not needed as a method
    "MARKET_OPERATOR_ROLE": "roles",
    "DSO_ROLE": "roles",
    "FSP_ROLE": "roles",
    "METER_ORACLE_ROLE": "roles",
    "ARBITER_ROLE": "roles",
    "CLEARING_HOUSE_ROLE": "roles",
    "CPO_ROLE": "roles",
    "DEFAULT_ADMIN_ROLE": None,  # always zero
    "MINTER_ROLE": "MINTER_ROLE",
    "MARKET_ROLE": "MARKET_ROLE",
    "LIVENESS_GRACE": "liveness_grace_s",  # seconds: the unit in the name
    "offers": None,  # NaiveMarket's public mapping getters
    "requests": None,
}


@pytest.mark.parametrize(
    "wrapper",
    [SettlementTokenContract, FlexMarketContract, FlexPositionsContract, NaiveMarketContract],
)
def test_each_abi_function_has_a_wrapper_method(wrapper: type) -> None:
    abi = compile_contracts()[wrapper.NAME].abi
    missing = []
    for item in abi:
        if item["type"] != "function":
            continue
        name = item["name"]
        method = ALIASES.get(name, snake_case(name) if not name.isupper() else name.lower())
        if method is not None and not hasattr(wrapper, method):
            missing.append(f"{name} -> {method}")
    assert missing == []


def test_session_info_matches_the_abi_struct() -> None:
    abi = compile_contracts()["FlexMarket"].abi
    (fn,) = [i for i in abi if i.get("name") == "session" and i["type"] == "function"]
    # Python's one name for the ISP length is isp_s; the ABI spells it in Solidity's camelCase.
    renamed = {"ispSeconds": "isp_s"}
    fields = [renamed.get(c["name"], snake_case(c["name"])) for c in fn["outputs"][0]["components"]]
    assert fields == list(ChainSession.__dataclass_fields__)  # every stored field, in order


def test_chain_request_matches_the_abi_struct() -> None:
    abi = compile_contracts()["FlexMarket"].abi
    (fn,) = [i for i in abi if i.get("name") == "request" and i["type"] == "function"]
    # Python's one name for the ISP length is isp_s; the ABI spells it in Solidity's camelCase.
    renamed = {"ispSeconds": "isp_s"}
    fields = [renamed.get(c["name"], snake_case(c["name"])) for c in fn["outputs"][0]["components"]]
    assert fields == list(ChainRequest.__dataclass_fields__)


def test_reservation_and_payout_hashes_match_abi_encode() -> None:
    """The wrapper's hashes are keccak256(abi.encode(list)), as the contract computes them."""
    from eth_abi import encode
    from eth_utils import keccak

    from adapters.chain.market_lists import payouts_hash, reservations_hash
    from adapters.chain.types import Reservation

    rows = [
        Reservation(b"\x01" * 32, "0x" + "ab" * 20, 5),
        Reservation(b"\x02" * 32, "0x" + "cd" * 20, 7),
    ]
    encoded = encode(["(bytes32,address,uint128)[]"], [[r.as_abi() for r in rows]])
    assert reservations_hash(rows) == keccak(encoded)
    assert payouts_hash([1, 2]) == keccak(encode(["uint128[]"], [[1, 2]]))
    assert reservations_hash([]) != bytes(32)
