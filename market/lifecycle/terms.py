"""A session's committed terms: built once when the session opens, published, then only read.

Why here: the open step fixes the terms (the operator's configured pricing rule, solver
settings and settlement rules, the grid as the store knows it, the session's schedule) and
anchors their hash with ``createSession``; the clear and verify steps read them back from the
published ``terms`` bundle, never from the configuration of the moment, so nothing a payout
depends on can be chosen after the offers or the meter data are known.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from clearing.bundle import MarketRules
from clearing.settlement.rules import SettlementRules
from clearing.terms import CongestionPoint, SessionTerms, SolverTerms
from market.bundles import BundleStore
from market.errors import NotFound
from market.store import models as m

__all__ = ["build_terms", "committed_terms", "publish_terms"]


def _grid(engine: Engine) -> tuple[CongestionPoint, ...]:
    with Session(engine) as db:
        points = db.exec(select(m.CongestionPoint).order_by(m.CongestionPoint.code))
        return tuple(
            CongestionPoint(
                code=p.code,
                parent=p.parent_code,
                sensitivity_ppm=p.sensitivity_ppm,
                max_increase_w=p.max_increase_w,
                max_decrease_w=p.max_decrease_w,
            )
            for p in points
        )


def build_terms(
    engine: Engine,
    s: m.MarketSession,
    *,
    pricing_rule: str,
    meter_grace_s: int,
    settlement: SettlementRules,
    rules: MarketRules | None = None,
    readings_digests_required: bool = True,
) -> SessionTerms:
    """The terms of a session as configured now (the settlement rules take its ISP length)."""
    rules = rules or MarketRules()
    if settlement.isp_s != s.isp_s:
        settlement = SettlementRules.model_validate({**settlement.to_json_obj(), "isp_s": s.isp_s})
    return SessionTerms(
        session_id=s.id,
        gate_closure=s.gate_closure,
        delivery_start=s.delivery_start,
        delivery_end=s.delivery_end,
        isp_s=s.isp_s,
        challenge_window_s=s.challenge_window_s,
        meter_grace_s=meter_grace_s,
        pricing_rule=pricing_rule,  # type: ignore[arg-type]  # validated by the model
        solver=SolverTerms(
            name=rules.solver.name,
            mip_gap_ppm=rules.mip_gap_ppm,
            time_limit_s=rules.time_limit_s,
        ),
        congestion_points=_grid(engine),
        settlement=settlement,
        readings_digests_required=readings_digests_required,
    )


def committed_terms(bundles: BundleStore, session_id: str) -> SessionTerms | None:
    """The session's published terms, or None for a session opened before terms existed."""
    try:
        raw = bundles.get(session_id, "terms")
    except NotFound:
        return None
    return SessionTerms.model_validate_json(raw)


def publish_terms(bundles: BundleStore, terms: SessionTerms) -> bytes:
    """Publish the terms (idempotent for the same bytes); returns their hash for the chain."""
    bundles.publish(terms.session_id, "terms", terms.to_canonical())
    return terms.terms_hash()
