"""Settlement rules: every knob of delivery verification and payment, integers only.

The rules travel inside the delivery report, so anyone recomputing a settlement uses exactly
the numbers the operator used.  Parts-per-million (ppm) express fractions and factors:
``50_000`` ppm is 5 %, ``1_500_000`` ppm is a factor of 1.5.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BaselineMethod", "SettlementError", "SettlementRules"]

BaselineMethod = Literal["nominated", "meter_before", "x_of_y"]


class SettlementError(ValueError):
    """Settlement inputs are inconsistent; the message names the field and the reason."""


class SettlementRules(BaseModel):
    """Frozen, integer-only settlement rules for one market or session."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    isp_s: int = Field(default=900, gt=0, description="ISP length in seconds")
    baseline_method: BaselineMethod = "nominated"
    # meter_before: average power over [activation - window, activation).
    meter_before_window_s: int = Field(default=3600, gt=0)
    # x_of_y: X of the last Y like days (same ISP of day); "highest" picks the X days with the
    # most energy over the order window, "recent" the X most recent usable days.
    x_of_y_x: int = Field(default=4, gt=0)
    x_of_y_y: int = Field(default=5, gt=0)
    x_of_y_selection: Literal["highest", "recent"] = "highest"
    x_of_y_like_day_s: int = Field(default=86_400, gt=0, description="86400 daily, 604800 weekly")
    # Same-day additive adjustment over [activation - window, activation); 0 disables it.
    x_of_y_adjust_window_s: int = Field(default=0, ge=0)
    # Absolute cap on the adjustment in W; 0 means uncapped.
    x_of_y_adjust_cap_w: int = Field(default=0, ge=0)
    # Gaming check for nominated baselines, in ISPs without an order:
    # flagged when |baseline - metered| > max(gaming_tolerance_w, |baseline| * ppm / 1e6).
    gaming_tolerance_w: int = Field(default=1_000, ge=0)
    gaming_tolerance_ppm: int = Field(default=100_000, ge=0)
    # Delivery within ordered * (1 - tolerance) counts as full.
    delivery_tolerance_ppm: int = Field(default=50_000, ge=0, le=1_000_000)
    # Penalty = factor * price * (deficiency beyond tolerance), capped at the order's value.
    penalty_factor_ppm: int = Field(default=1_000_000, ge=0)
    # Longest interval between two valid readings that may be interpolated across.
    max_gap_s: int = Field(default=900, gt=0)
    # Readings without a signature are excluded (with a finding) when this is set.
    require_signatures: bool = True

    @model_validator(mode="after")
    def _check(self) -> SettlementRules:
        if self.x_of_y_x > self.x_of_y_y:
            raise ValueError(f"x_of_y_x: must be <= x_of_y_y ({self.x_of_y_x} > {self.x_of_y_y})")
        return self

    def to_json_obj(self) -> dict[str, Any]:
        """Plain dict for canonical JSON (ints, strs and bools only)."""
        return self.model_dump(mode="python")
