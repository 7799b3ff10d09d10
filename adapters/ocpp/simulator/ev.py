"""A battery EV on a bidirectional charger: what power it actually draws for a request.

Why integer joules in the meter: a period of ``P`` W for ``s`` integer seconds moves exactly
``P * s`` J, so ISP energy registers match the followed profile to the watt-hour; the battery
side (with losses) is a float because it never crosses a hashed or signed boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["default", "limit", "setpoint"]


@dataclass
class EvModel:
    """An EV's battery, power limits and plan for one plug-in session.

    ``reserve_soc_pct`` is never crossed by discharge; ``target_soc_pct`` is where unmanaged
    (or limit-managed) charging stops. A central setpoint may charge up to 100 %.
    """

    battery_wh: int
    soc_pct: float
    max_charge_w: int
    max_discharge_w: int
    arrival_unix: int
    departure_unix: int
    round_trip_efficiency: float = 0.9
    reserve_soc_pct: int = 20
    target_soc_pct: int = 80
    stored_wh: float = field(init=False)

    def __post_init__(self) -> None:
        if self.battery_wh <= 0:
            raise ValueError(f"battery_wh: must be > 0, got {self.battery_wh}")
        if not 0 <= self.soc_pct <= 100:
            raise ValueError(f"soc_pct: must be within 0..100, got {self.soc_pct}")
        if self.max_charge_w < 0 or self.max_discharge_w < 0:
            raise ValueError("max_charge_w / max_discharge_w: must be >= 0 (magnitudes)")
        if not 0 < self.round_trip_efficiency <= 1:
            raise ValueError(
                f"round_trip_efficiency: must be in (0, 1], got {self.round_trip_efficiency}"
            )
        if not 0 <= self.reserve_soc_pct <= self.target_soc_pct <= 100:
            raise ValueError("reserve_soc_pct <= target_soc_pct <= 100 must hold")
        if self.departure_unix <= self.arrival_unix:
            raise ValueError("departure_unix: must be after arrival_unix")
        self.stored_wh = self.battery_wh * self.soc_pct / 100.0

    @property
    def one_way_efficiency(self) -> float:
        return math.sqrt(self.round_trip_efficiency)

    @property
    def soc(self) -> int:
        """State of charge in whole percent, as reported over OCPP."""
        return round(100.0 * self.stored_wh / self.battery_wh)

    def present(self, t: int) -> bool:
        return self.arrival_unix <= t < self.departure_unix

    def _request(self, mode: Mode, value_w: int) -> tuple[int, float]:
        """Requested meter power (W) and the stored-energy bound that ends it."""
        full = float(self.battery_wh)
        target = self.battery_wh * self.target_soc_pct / 100.0
        reserve = self.battery_wh * self.reserve_soc_pct / 100.0
        if mode == "default":
            return self.max_charge_w, target
        if mode == "limit":
            return max(0, min(value_w, self.max_charge_w)), target
        power = max(-self.max_discharge_w, min(value_w, self.max_charge_w))
        return power, (full if power >= 0 else reserve)

    def run(self, mode: Mode, value_w: int, seconds: int) -> list[tuple[int, int]]:
        """Run ``seconds`` under a request; return ``(meter_power_w, seconds)`` pieces.

        The power is held until the battery reaches its bound (full / target / reserve), to
        the whole second, then drops to 0.
        """
        if seconds <= 0:
            return []
        power, bound = self._request(mode, value_w)
        if power == 0:
            return [(0, seconds)]
        eff = self.one_way_efficiency
        # Battery-side rate in Wh per second (positive = stored energy rising).
        rate = power * eff / 3600.0 if power > 0 else power / eff / 3600.0
        room = bound - self.stored_wh
        if (power > 0 and room <= 0) or (power < 0 and room >= 0):
            return [(0, seconds)]
        run_s = min(seconds, math.floor(room / rate))
        if run_s <= 0:
            return [(0, seconds)]
        self.stored_wh += rate * run_s
        pieces = [(power, run_s)]
        if run_s < seconds:
            pieces.append((0, seconds - run_s))
        return pieces
