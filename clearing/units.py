"""Integer unit arithmetic: power (W), energy (Wh), prices (token units per MWh), money (units).

Money is integer minor units of a 6-decimal token (1 EUR = 1_000_000 units); nothing here
touches a float.  Every division states its rounding:

* energy from power: ``floor(power_w * seconds / 3600)`` toward zero for magnitudes
  (we only convert non-negative magnitudes; negative input is refused);
* payment from energy: ``floor(energy_wh * price_per_mwh / 1_000_000)`` - payments round down
  so the payer is never charged for a fraction it did not owe;
* a share in parts-per-million: ``floor(value * ppm / 1_000_000)``.
"""

from __future__ import annotations

__all__ = [
    "MAX_BUDGET_UNITS",
    "MAX_ISP_COUNT",
    "MAX_POWER_W",
    "MAX_PRICE_PER_MWH",
    "PPM",
    "SECONDS_PER_HOUR",
    "UINT128_MAX",
    "UINT256_MAX",
    "WH_PER_MWH",
    "apply_ppm",
    "energy_wh",
    "payment_units",
    "payment_units_ceil",
]

PPM = 1_000_000
WH_PER_MWH = 1_000_000
SECONDS_PER_HOUR = 3_600
UINT128_MAX = 2**128 - 1
UINT256_MAX = 2**256 - 1

# Bounds chosen so every product below stays far inside uint128 on-chain:
# 1e12 units/MWh = 1 000 000 EUR/MWh; 1e10 W = 10 GW; 1e18 units = 1e12 EUR.
MAX_PRICE_PER_MWH = 10**12
MAX_POWER_W = 10**10
MAX_BUDGET_UNITS = 10**18
MAX_ISP_COUNT = 10_000


def _check_non_negative(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value}")


def energy_wh(power_w: int, seconds: int) -> int:
    """Energy of a constant power over ``seconds``, floored to whole Wh."""
    _check_non_negative("power_w", power_w)
    _check_non_negative("seconds", seconds)
    return power_w * seconds // SECONDS_PER_HOUR


def payment_units(energy: int, price_per_mwh: int) -> int:
    """Payment for ``energy`` Wh at ``price_per_mwh`` units/MWh, floored (payments round down)."""
    _check_non_negative("energy_wh", energy)
    _check_non_negative("price_per_mwh", price_per_mwh)
    return energy * price_per_mwh // WH_PER_MWH


def payment_units_ceil(energy: int, price_per_mwh: int) -> int:
    """Same as :func:`payment_units` rounded up; used only for conservative upper bounds."""
    _check_non_negative("energy_wh", energy)
    _check_non_negative("price_per_mwh", price_per_mwh)
    return -(-energy * price_per_mwh // WH_PER_MWH)


def apply_ppm(value: int, ppm: int) -> int:
    """``floor(value * ppm / 1e6)`` for a non-negative value and a ppm factor."""
    _check_non_negative("value", value)
    _check_non_negative("ppm", ppm)
    return value * ppm // PPM
