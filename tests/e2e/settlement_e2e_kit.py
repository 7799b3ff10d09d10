"""The settlement end-to-end test's scenario figures and the settlement computed by hand from
the rules (ISP energy floors to Wh, payments floor to token units), plus the station clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from coincurve import PrivateKey
from eth_utils.crypto import keccak

from clearing.settlement.rules import SettlementRules

CP = "EAN-E2E-0001"
ISP_S, N_ISPS, METER_S = 60, 4, 12
BASELINE_W = 11_100  # the EVs' unmanaged charging power (both FSPs nominate it)
SETPOINT_A, SETPOINT_B = 6_000, -3_000  # A charges slower, B discharges (V2G)
ORDER_A, ORDER_B = BASELINE_W - SETPOINT_A, BASELINE_W - SETPOINT_B  # 5 100 W, 14 100 W
PRICE_A, PRICE_B = 100_000_000, 200_000_000  # token units per MWh
BUDGET = 1_000_000
TOLERANCE_PPM, PENALTY_PPM = 50_000, 1_000_000
RULES = SettlementRules(isp_s=ISP_S, max_gap_s=30, delivery_tolerance_ppm=TOLERANCE_PPM)
NAMES = (
    *("operator", "dso", "fsp_a", "fsp_b", "oracle", "arbiter", "house", "user_a", "user_b"),
    "cpo",  # registers the stations' meter keys on-chain and grants each to its FSP
)
STATIONS = {"fsp_a": "ST-A", "fsp_b": "ST-B"}  # FSP -> its one V2G station
# revenue sharing: A pays its user a share and the house CPO and platform fees; B pays per kWh
INCENTIVE_A_PPM, CPO_FEE_A_PER_KWH, PLATFORM_FEE_A_PPM = 100_000, 1_000, 10_000
INCENTIVE_B_PER_KWH_DISCHARGED = 10_000


class StepClock:
    """Station time that moves only when set (every reading lands on the 12 s grid)."""

    def __init__(self, start: int) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def now(self) -> float:
        return float(self._now)

    async def sleep(self, seconds: float) -> None:
        target = self._now + max(0.0, seconds)
        while self._now < target:
            await self._moved.wait()

    def set(self, t: int) -> None:
        self._now = t
        event, self._moved = self._moved, asyncio.Event()
        event.set()


# ---- hand-computed settlement (ISP energy floors to Wh, payments floor to units) -----------


def energy_wh(power_w: int) -> int:
    return power_w * ISP_S // 3600


def pay(wh: int, price: int) -> int:
    return wh * price // 1_000_000


def expected_payout(order_w: int, price: int, delivered_isps: int) -> int:
    """Full ISPs are paid; the others (not delivered or unverifiable) credit 0 and are
    penalised for the deficiency beyond tolerance, capped at the order's value."""
    tolerance_w = order_w * TOLERANCE_PPM // 1_000_000
    paid = pay(delivered_isps * energy_wh(order_w), price)
    missing = N_ISPS - delivered_isps
    penalty = pay(missing * energy_wh(order_w - tolerance_w), price) * PENALTY_PPM // 1_000_000
    penalty = min(penalty, pay(N_ISPS * energy_wh(order_w), price))
    return max(paid - penalty, 0)


def station_key(name: str) -> str:
    """The meter key of a station (derived, so the test can recompute its address)."""
    return "0x" + keccak(text=f"station:{name}").hex()


def public_key(private: str) -> str:
    return "0x" + PrivateKey(bytes.fromhex(private[2:])).public_key.format(compressed=False).hex()


def in_thread(fn: Callable[..., Any], *args: Any, **kw: Any) -> Awaitable[Any]:
    """Blocking client and chain calls run off the event loop the stations and CSMS use."""
    return asyncio.to_thread(fn, *args, **kw)
