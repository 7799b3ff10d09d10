"""The lifecycle worker's verification hook for replays: metered delivery -> attestation.

Why here: the service has no verification step wired yet. This hook does what the meter
oracle does: compute the delivery report from the stored (signed) readings, publish the
delivery bundle, and attest its root and the payout vector on-chain with the oracle's key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from clearing.bundle import ResultBundle
from clearing.encoding import uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOrder, FlexRequest
from clearing.settlement.delivery import DeliveryOutcome, compute_delivery, required_reading_window
from clearing.settlement.rules import SettlementRules
from market.bundles import BundleStore
from market.clearing_house.verification import (
    build_delivery_inputs,
    readings_from_rows,
    station_keys_from_assets,
)
from market.ledger import Ledger
from market.store import models as m


@dataclass
class ReplayVerifier:
    """Callable as ``Worker.verification_hook``; keeps each session's outcome for the report."""

    engine: Engine
    ledger: Ledger
    bundles: BundleStore
    oracle: str
    rules_for: Callable[[m.MarketSession], SettlementRules]
    outcomes: dict[str, DeliveryOutcome] = field(default_factory=dict)
    gas: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, s: m.MarketSession) -> None:
        outcome = self.compute(s)
        self.bundles.publish(s.id, "delivery", outcome.bundle_bytes)
        tx = self.ledger.market.attest_delivery(
            uuid_to_bytes32(s.id),
            bytes.fromhex(outcome.report.root.removeprefix("0x")),
            outcome.report.payout_vector(),
            sender=self.oracle,
        )
        self.gas.append(("attestDelivery", int(tx.gas_used)))
        self.outcomes[s.id] = outcome

    def compute(self, s: m.MarketSession) -> DeliveryOutcome:
        rules = self.rules_for(s)
        result = ResultBundle.model_validate_json(self.bundles.get(s.id, "result"))
        by_onchain = {uuid_to_bytes32(c.request_id): c.request_id for c in result.payment_caps}
        clearing = self.ledger.clearing(s.id)
        reservations = clearing.reservations if clearing is not None else ()
        reserved = [(by_onchain[bytes(r.request_id)], r.fsp, int(r.amount)) for r in reservations]
        lo, hi = required_reading_window(rules, s.delivery_start, s.delivery_end)
        with Session(self.engine) as db:
            assets = list(db.exec(select(m.Asset).order_by(m.Asset.id)))
            rows = list(
                db.exec(
                    select(m.MeterReading).where(
                        m.MeterReading.timestamp >= lo,  # type: ignore[operator]
                        m.MeterReading.timestamp <= hi,  # type: ignore[operator]
                    )
                )
            )
            prognoses = [
                DPrognosis.model_validate_json(p.body_json)
                for p in db.exec(
                    select(m.PrognosisRow)
                    .where(m.PrognosisRow.session_id == s.id)
                    .order_by(m.PrognosisRow.id)
                )
            ]
            orders = [
                FlexOrder.model_validate(json.loads(o.body_json))
                for o in db.exec(
                    select(m.OrderRow).where(m.OrderRow.session_id == s.id).order_by(m.OrderRow.id)
                )
            ]
            requests = [
                FlexRequest.model_validate_json(r.body_json)
                for r in db.exec(
                    select(m.FlexRequestRow)
                    .where(m.FlexRequestRow.session_id == s.id)
                    .order_by(m.FlexRequestRow.id)
                )
            ]
        inputs = build_delivery_inputs(
            session_id=s.id,
            session_start_ts=s.delivery_start,
            assets=assets,
            readings=readings_from_rows(rows, from_ts=lo, to_ts=hi),
            prognoses=prognoses,
            reservations=reserved,
            budgets=[(r.request_id, r.budget_units) for r in requests],
        )
        return compute_delivery(inputs, orders, rules, station_keys_from_assets(assets))
