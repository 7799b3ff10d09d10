"""Session terms: every rule a session's money depends on, fixed and hashed before any offer.

Why: an operator that chooses the pricing rule, the grid limits, the solver's gap or the
delivery rules after seeing the offers (or the meter data) can move money while publishing
bundles that are consistent with each other.  So the operator publishes one ``SessionTerms``
document when it creates the session and anchors ``keccak256(canonical JSON)`` on-chain as the
session's ``termsHash`` (``createSession``; the contract has no setter).  The input bundle
carries the preimage; clearing, delivery verification and the auditor use only these terms.

What is bound where:

* schedule (gate closure, delivery window, ISP length, challenge window): here and in the
  contract's own session fields, which the auditor compares with these;
* pricing rule, solver and its MIP gap and wall-clock limit: here, within :data:`SOLVER_BOUNDS`;
* congestion points with their grid limits: here, as the store knew them at creation (a DSO's
  request itself is bound by its own on-chain ``requestHash``);
* delivery verification (baseline method and parameters, tolerance, penalty, gap filling,
  whether readings must be signed): the settlement rules here;
* meter grace: here (when the meter oracle may attest);
* whether the CPOs' readings digests are required (``readings_digests_required``,
  ``clearing/readings_digest.py``): left out of the hashed preimage while false, so terms
  without it keep their hash.

``CongestionPoint`` and ``PricingRule`` live here (``clearing.bundle`` re-exports them) so that
the input bundle can carry the terms without an import cycle.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    model_serializer,
)

from clearing.messages import Code, PowerW, UnixSeconds, UuidStr
from clearing.settlement.rules import SettlementRules
from clearing.trust import canonical_json, keccak256
from clearing.units import PPM

__all__ = [
    "SOLVER_BOUNDS",
    "CongestionPoint",
    "PricingRule",
    "SessionTerms",
    "SolverTerms",
]

PricingRule = Literal["pay_as_bid", "pay_as_clear"]

#: The fixed bounds any session's solver terms must keep: a gap or a time limit outside them is
#: refused at creation and named by the auditor (``terms.out_of_bounds``).
SOLVER_BOUNDS = {"mip_gap_ppm": (0, 10_000), "time_limit_s": (1, 600)}


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="python"))


class CongestionPoint(_Doc):
    """A node of the grid hierarchy (feeder inside transformer inside substation).

    ``sensitivity_ppm`` scales a flow at this point into its effect on ``parent`` (1e6 = 1.0).
    ``max_increase_w`` / ``max_decrease_w``: optional bounds on the net change of consumption
    that awarded flexibility and its rebound may cause here in any ISP (None = unlimited).
    """

    code: Code
    parent: Code | None = None
    sensitivity_ppm: Annotated[StrictInt, Field(ge=1, le=PPM)] = PPM
    max_increase_w: PowerW | None = None
    max_decrease_w: PowerW | None = None


class SolverTerms(_Doc):
    """The clearing solver and how far from optimal its result may be (ppm of the objective)."""

    name: Literal["highs", "cbc"] = "highs"
    mip_gap_ppm: Annotated[StrictInt, Field(ge=0, le=PPM)] = 1_000
    time_limit_s: Annotated[StrictInt, Field(ge=1, le=86_400)] = 60


class SessionTerms(_Doc):
    """The committed terms of one session (version 1); ``terms_hash`` goes on-chain."""

    version: Literal[1] = 1
    session_id: UuidStr
    gate_closure: UnixSeconds
    delivery_start: UnixSeconds
    delivery_end: UnixSeconds
    isp_s: Annotated[StrictInt, Field(ge=60, le=86_400)]
    challenge_window_s: Annotated[StrictInt, Field(ge=1)]
    meter_grace_s: Annotated[StrictInt, Field(ge=0)]
    pricing_rule: PricingRule = "pay_as_bid"
    solver: SolverTerms = SolverTerms()
    congestion_points: tuple[CongestionPoint, ...] = ()
    settlement: SettlementRules
    readings_digests_required: bool = False

    @model_serializer(mode="wrap")
    def _omit_unset_digests(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """``readings_digests_required`` is dumped only when set, in every document that
        carries the terms, so terms (and input bundles) without it keep their bytes."""
        data: dict[str, object] = handler(self)
        if not data.get("readings_digests_required"):
            data.pop("readings_digests_required", None)
        return data

    def terms_hash(self) -> bytes:
        """keccak256 of the canonical JSON: the session's on-chain ``termsHash``."""
        return keccak256(self.to_canonical())

    @property
    def isp_count(self) -> int:
        return (self.delivery_end - self.delivery_start) // self.isp_s

    def problems(self) -> list[tuple[str, str]]:
        """(field, reason) of every rule the terms break; empty for valid terms.  The service
        refuses such terms at creation; the auditor reports them as ``terms.out_of_bounds``."""
        out: list[tuple[str, str]] = []
        for name, (lo, hi) in SOLVER_BOUNDS.items():
            value = getattr(self.solver, name)
            if not lo <= value <= hi:
                out.append((f"solver.{name}", f"{value} is outside the fixed bounds [{lo}, {hi}]"))
        if self.settlement.isp_s != self.isp_s:
            out.append(
                ("settlement.isp_s", f"{self.settlement.isp_s} != the session's {self.isp_s}")
            )
        window = self.delivery_end - self.delivery_start
        if window <= 0 or window % self.isp_s:
            out.append(("delivery_end", f"the delivery window {window} s is not whole ISPs"))
        if self.delivery_start < self.gate_closure:
            out.append(("delivery_start", "before gate closure"))
        return out
