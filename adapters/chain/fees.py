"""EIP-1559 fees: estimate from the node, cap them, and bump them to replace a stuck transaction.

Why caps: on a public network a fee spike must not drain the operator's account; a transaction
whose base fee is above the cap is refused before it is signed (FeeCapExceeded), never sent
to sit in the pool. Why bumps of 1/8 + 1 wei: nodes accept a replacement for the same nonce
only if both fee fields grow by at least 10 %.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.chain.revert import ChainError
from adapters.chain.rpc_error import RpcError

GWEI = 10**9
DEFAULT_TIP_WEI = 1 * GWEI  # when the node has no eth_maxPriorityFeePerGas


class FeeCapExceeded(ChainError):
    """The network's current fee is above the configured cap: nothing is sent."""


@dataclass(frozen=True)
class FeeCaps:
    """Upper bounds in wei (None: no bound)."""

    max_fee_per_gas_wei: int | None = None
    max_priority_fee_per_gas_wei: int | None = None


@dataclass(frozen=True)
class Fees:
    """Type-2 fees, or a legacy gas price on a chain without a base fee."""

    max_fee_per_gas_wei: int
    max_priority_fee_per_gas_wei: int
    legacy: bool = False

    def tx_fields(self) -> dict[str, int]:
        if self.legacy:
            return {"gasPrice": self.max_fee_per_gas_wei}
        return {
            "maxFeePerGas": self.max_fee_per_gas_wei,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas_wei,
        }


def estimate_fees(rpc: Callable[[str, list[Any]], Any], caps: FeeCaps) -> Fees:
    """Tip from ``eth_maxPriorityFeePerGas``, max fee = 2 x latest base fee + tip, then capped.

    Twice the base fee covers six full blocks of base-fee growth (12.5 % each) before the
    transaction stops being includable.
    """
    block = rpc("eth_getBlockByNumber", ["latest", False])
    base = block.get("baseFeePerGas") if block else None
    if base is None:
        price = int(rpc("eth_gasPrice", []), 16) * 2
        if caps.max_fee_per_gas_wei is not None:
            price = min(price, caps.max_fee_per_gas_wei)
        return Fees(price, price, legacy=True)
    base_wei = int(base, 16)
    try:
        tip = int(rpc("eth_maxPriorityFeePerGas", []), 16)
    except RpcError:
        tip = DEFAULT_TIP_WEI
    if caps.max_priority_fee_per_gas_wei is not None:
        tip = min(tip, caps.max_priority_fee_per_gas_wei)
    max_fee = 2 * base_wei + tip
    cap = caps.max_fee_per_gas_wei
    if cap is not None:
        if base_wei > cap:
            raise FeeCapExceeded(
                f"base fee {base_wei} wei is above the cap of {cap} wei per gas: not sending"
            )
        max_fee = min(max_fee, cap)
        tip = min(tip, max_fee)
    return Fees(max_fee, tip)


def bump(fees: Fees, caps: FeeCaps) -> Fees | None:
    """Fees for a replacement (both fields + 1/8 + 1 wei), or None if a cap forbids it."""

    def up(value: int) -> int:
        return value + value // 8 + 1

    max_fee, tip = up(fees.max_fee_per_gas_wei), up(fees.max_priority_fee_per_gas_wei)
    if caps.max_fee_per_gas_wei is not None and max_fee > caps.max_fee_per_gas_wei:
        return None
    if (
        caps.max_priority_fee_per_gas_wei is not None
        and not fees.legacy
        and tip > caps.max_priority_fee_per_gas_wei
    ):
        return None
    return Fees(max_fee, max_fee if fees.legacy else tip, legacy=fees.legacy)
