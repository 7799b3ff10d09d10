"""EIP-1559 fee estimation, caps and replacement bumps, against a scripted node."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.chain.fees import DEFAULT_TIP_WEI, GWEI, FeeCapExceeded, FeeCaps, Fees, bump
from adapters.chain.fees import estimate_fees as estimate
from adapters.chain.rpc_error import RpcError


def node(base_fee_wei: int | None, tip_wei: int | None = 2 * GWEI, gas_price_wei: int = 3 * GWEI):
    def rpc(method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            return {} if base_fee_wei is None else {"baseFeePerGas": hex(base_fee_wei)}
        if method == "eth_maxPriorityFeePerGas":
            if tip_wei is None:
                raise RpcError(method, {"code": -32601, "message": "method not found"})
            return hex(tip_wei)
        if method == "eth_gasPrice":
            return hex(gas_price_wei)
        raise AssertionError(method)

    return rpc


def test_max_fee_is_twice_the_base_fee_plus_the_tip() -> None:
    fees = estimate(node(10 * GWEI), FeeCaps())
    assert fees == Fees(22 * GWEI, 2 * GWEI)
    assert fees.tx_fields() == {"maxFeePerGas": 22 * GWEI, "maxPriorityFeePerGas": 2 * GWEI}


def test_a_node_without_a_tip_estimate_gets_one_gwei() -> None:
    assert estimate(node(10 * GWEI, tip_wei=None), FeeCaps()).max_priority_fee_per_gas_wei == (
        DEFAULT_TIP_WEI
    )


def test_caps_clamp_both_fields() -> None:
    fees = estimate(node(10 * GWEI), FeeCaps(15 * GWEI, GWEI))
    assert fees == Fees(15 * GWEI, GWEI)


def test_a_base_fee_above_the_cap_refuses_to_send() -> None:
    with pytest.raises(FeeCapExceeded, match="base fee 10000000000 wei is above the cap"):
        estimate(node(10 * GWEI), FeeCaps(max_fee_per_gas_wei=9 * GWEI))


def test_a_chain_without_base_fee_gets_a_capped_legacy_price() -> None:
    fees = estimate(node(None), FeeCaps(max_fee_per_gas_wei=5 * GWEI))
    assert fees.legacy and fees.tx_fields() == {"gasPrice": 5 * GWEI}


def test_a_bump_raises_both_fields_by_more_than_ten_percent() -> None:
    bumped = bump(Fees(80, 8), FeeCaps())
    assert bumped == Fees(91, 10)
    assert (
        bumped.max_fee_per_gas_wei * 10 >= 80 * 11
        and bumped.max_priority_fee_per_gas_wei * 10 >= 8 * 11
    )


def test_no_bump_past_a_cap() -> None:
    assert bump(Fees(80, 8), FeeCaps(max_fee_per_gas_wei=90)) is None
    assert bump(Fees(80, 8), FeeCaps(max_priority_fee_per_gas_wei=9)) is None
    assert bump(Fees(80, 8), FeeCaps(91, 10)) == Fees(91, 10)
