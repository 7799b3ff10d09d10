"""The meter oracle's step: metered delivery -> delivery report -> bundle -> ``attestDelivery``.

Why a plain function: the lifecycle worker calls it through ``Worker.verification_hook`` and
replays call it directly.  It is idempotent and resumable like the other steps:

* the chain is read first; a session already VERIFIED (or later) is only recorded locally;
* a delivery bundle published before a crash is attested exactly as published (the public
  can already read it, and the bundle store refuses different bytes for it);
* otherwise the report is computed from the store (signed readings, assets with their meter
  keys, prognoses, orders) and the chain (reservations, budgets), published, then attested,
  under the settlement rules of the session's committed terms (the configured ``rules`` only
  for a session opened before terms existed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from adapters.chain.tx import DecodedEvent
from adapters.chain.types import SessionState
from clearing.commitments import (
    EMPTY_CONTRACT_SET,
    committed_portfolios,
    committed_prognoses,
    own_portfolios,
    own_prognoses,
)
from clearing.encoding import canonical_json, hex32, uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOrder
from clearing.settlement.delivery import (
    DeliveryOutcome,
    DeliveryReport,
    compute_delivery,
    required_reading_window,
)
from clearing.settlement.report import Portfolio
from clearing.settlement.rules import SettlementError, SettlementRules
from clearing.terms import SessionTerms
from market.bundles import BundleStore
from market.clearing_house import store as ch_store
from market.clearing_house.verification import (
    build_delivery_inputs,
    portfolios_from_assets,
    readings_from_rows,
    station_keys_from_assets,
)
from market.errors import NotFound
from market.ledger import Ledger
from market.lifecycle.readings import DigestSource, commit_readings
from market.lifecycle.terms import committed_terms
from market.store import models as m

__all__ = [
    "VerificationResult",
    "committed_fsp_data",
    "compute_session_delivery",
    "load_orders",
    "make_verification_hook",
    "record_order_settlements",
    "rules_for_session",
    "station_keys",
    "verify_session",
]


@dataclass(frozen=True)
class VerificationResult:
    """What one call did: ``action`` is attested, already_verified or not_ready."""

    session_id: str
    action: str
    delivery_root: str | None
    payouts: tuple[int, ...]
    tx_hash: str | None = None
    detail: str = ""


def rules_for_session(rules: SettlementRules, s: m.MarketSession) -> SettlementRules:
    """The configured rules with the session's ISP length (the chain fixed it at creation)."""
    if rules.isp_s == s.isp_s:
        return rules
    return SettlementRules.model_validate({**rules.to_json_obj(), "isp_s": s.isp_s})


def load_orders(engine: Engine, session_id: str) -> list[FlexOrder]:
    """The session's orders (the cleared result) from the store, in order id order."""
    with Session(engine) as db:
        rows = db.exec(
            select(m.OrderRow).where(m.OrderRow.session_id == session_id).order_by(m.OrderRow.id)
        )
        return [FlexOrder.model_validate_json(r.body_json) for r in rows]


def station_keys(engine: Engine) -> dict[str, str]:
    """Station id -> signer address of every registered asset with a meter key."""
    with Session(engine) as db:
        assets: list[m.Asset] = list(db.exec(select(m.Asset).order_by(m.Asset.id)))
        return station_keys_from_assets(assets)


def _request_uuids(engine: Engine, session_id: str) -> dict[bytes, str]:
    with Session(engine) as db:
        rows = db.exec(select(m.FlexRequestRow).where(m.FlexRequestRow.session_id == session_id))
        return {uuid_to_bytes32(r.id): r.id for r in rows}


def compute_session_delivery(
    *, engine: Engine, ledger: Ledger, session: m.MarketSession, rules: SettlementRules
) -> DeliveryOutcome:
    """Settle a session from the store and the chain; raises SettlementError naming the gap."""
    s = session
    rules = rules_for_session(rules, s)
    clearing = ledger.clearing(s.id)
    if clearing is None:
        raise SettlementError(f"session {s.id}: no ClearingPosted event on-chain")
    by_onchain = _request_uuids(engine, s.id)
    reservations = []
    for i, r in enumerate(clearing.reservations):
        rid = by_onchain.get(bytes(r.request_id))
        if rid is None:
            raise SettlementError(
                f"reservations[{i}]: request {hex32(r.request_id)} is not in the store"
            )
        reservations.append((rid, str(r.fsp), int(r.amount)))
    budgets = []
    for raw in ledger.request_ids(s.id):
        rid = by_onchain.get(bytes(raw))
        if rid is None:
            raise SettlementError(f"budgets: request {hex32(raw)} is not in the store")
        info = ledger.request(rid)
        if not info.cancelled:
            budgets.append((rid, int(info.budget)))
    lo, hi = required_reading_window(rules, s.delivery_start, s.delivery_end)
    with Session(engine) as db:
        assets = list(db.exec(select(m.Asset).order_by(m.Asset.id)))
        stations = {a.station_id for a in assets if a.station_id}
        rows = [
            r
            for r in db.exec(
                select(m.MeterReading).where(
                    m.MeterReading.timestamp >= lo,
                    m.MeterReading.timestamp <= hi,
                )
            )
            if r.station_id in stations
        ]
        stored = [
            DPrognosis.model_validate_json(p.body_json)
            for p in db.exec(
                select(m.PrognosisRow)
                .where(m.PrognosisRow.session_id == s.id)
                .order_by(m.PrognosisRow.id)
            )
        ]
    events = ledger.session_events("OffersCommitted", s.id)
    candidates = {
        str(e.args["fsp"]).lower(): ch_store.contract_set_roots(engine, str(e.args["fsp"]))
        for e in events
    }
    prognoses, portfolios, contract_sets = committed_fsp_data(
        events, stored, portfolios_from_assets(assets), candidates
    )
    inputs = build_delivery_inputs(
        session_id=s.id,
        session_start_ts=s.delivery_start,
        portfolios=portfolios,
        readings=readings_from_rows(rows, from_ts=lo, to_ts=hi),
        prognoses=prognoses,
        reservations=reservations,
        budgets=budgets,
        contract_sets=contract_sets,
    )
    return compute_delivery(
        inputs, load_orders(engine, s.id), rules, station_keys_from_assets(assets)
    )


def committed_fsp_data(
    commitments: Sequence[DecodedEvent],
    stored: Sequence[DPrognosis],
    portfolios: Sequence[Portfolio],
    contract_sets: Mapping[str, Sequence[bytes]] | None = None,
) -> tuple[list[DPrognosis], list[Portfolio], dict[str, bytes]]:
    """The prognoses, portfolios and contract-set roots delivery is measured and netted
    against: for each FSP that committed (its ``OffersCommitted`` event), exactly the preimages
    of its committed hashes, found among what the store holds (a prognosis posted, an asset
    registered or a contract set formed after the commitment does not count; ``contract_sets``:
    the candidate roots per FSP); for the others, their first prognosis per congestion point
    and their assets. An FSP whose hash matches nothing stored keeps the latter and the empty
    contract set (the auditor then names it)."""
    committed = {
        str(e.args["fsp"]).lower(): (bytes(e.args["prognosisHash"]), bytes(e.args["portfolioHash"]))
        for e in commitments
    }
    out_prognoses: list[DPrognosis] = []
    out_portfolios: list[Portfolio] = []
    roots: dict[str, bytes] = {}
    for fsp in sorted(
        {p.fsp.lower() for p in stored} | {p.fsp.lower() for p in portfolios} | set(committed)
    ):
        hashes = committed.get(fsp)
        candidates = (contract_sets or {}).get(fsp, (EMPTY_CONTRACT_SET,))
        prog = committed_prognoses(stored, fsp, hashes[0]) if hashes else None
        port = committed_portfolios(portfolios, fsp, hashes[1], candidates) if hashes else None
        out_prognoses += own_prognoses(stored, fsp) if prog is None else prog
        out_portfolios += own_portfolios(portfolios, fsp) if port is None else port[0]
        if hashes:
            roots[fsp] = EMPTY_CONTRACT_SET if port is None else port[1]
    return out_prognoses, out_portfolios, roots


def report_of_bundle(bundle_bytes: bytes) -> DeliveryReport:
    """The report inside a published delivery bundle."""
    obj = json.loads(bundle_bytes)
    return DeliveryReport.model_validate_json(canonical_json(obj["report"]))


def record_order_settlements(engine: Engine, report: DeliveryReport) -> int:
    """One Settlement row per order (its FlexSettlement detail); idempotent by id."""
    with Session(engine) as db:
        for order in report.orders:
            row_id = str(uuid.uuid5(uuid.UUID(report.session_id), f"order:{order.order_id}"))
            row = db.get(m.Settlement, row_id) or m.Settlement(
                id=row_id,
                session_id=report.session_id,
                order_id=order.order_id,
                fsp=order.fsp.lower(),
                body_json="",
            )
            row.payout_units = order.payout_units
            row.body_json = canonical_json(order.model_dump(mode="python")).decode()
            db.add(row)
        db.commit()
    return len(report.orders)


def _published(bundles: BundleStore, session_id: str) -> bytes | None:
    try:
        return bundles.get(session_id, "delivery")
    except NotFound:
        return None


def verify_session(
    *,
    engine: Engine,
    ledger: Ledger,
    bundles: BundleStore,
    session: m.MarketSession,
    oracle: str,
    rules: SettlementRules,
    digests: DigestSource | None = None,
) -> VerificationResult:
    """Compute, publish and attest one session's delivery (safe to call again).  When the
    session's terms require readings digests, they are checked, published and committed
    first (``market/lifecycle/readings.py``), from ``digests``, by default those the CPOs
    posted to the service (``POST /sessions/{id}/readings-digests``)."""
    if digests is None:
        from market.readings_digests import stored_digest_source

        digests = stored_digest_source(engine)
    s = session
    info = ledger.session(s.id)
    if info.state >= SessionState.VERIFIED:
        published = _published(bundles, s.id)
        if published is not None:
            record_order_settlements(engine, report_of_bundle(published))
        attested = ledger.payouts(s.id)
        return VerificationResult(
            s.id,
            "already_verified",
            hex32(attested.delivery_root) if attested else None,
            attested.payouts if attested else (),
            detail=f"chain says {info.state.name}",
        )
    if info.state != SessionState.CLEARED:
        return VerificationResult(
            s.id, "not_ready", None, (), detail=f"chain says {info.state.name}"
        )
    bundle_bytes = _published(bundles, s.id)
    terms = committed_terms(bundles, s.id)  # the rules fixed at creation, not today's
    if bundle_bytes is None:
        rules = terms.settlement if terms is not None else rules
        outcome = compute_session_delivery(engine=engine, ledger=ledger, session=s, rules=rules)
        bundle_bytes, report = outcome.bundle_bytes, outcome.report
        _readings(ledger, bundles, terms, bundle_bytes, engine, s.id, digests, oracle)
        bundles.publish(s.id, "delivery", bundle_bytes)
    else:  # published before a crash: attest exactly what the public can read
        report = report_of_bundle(bundle_bytes)
        _readings(ledger, bundles, terms, bundle_bytes, engine, s.id, digests, oracle)
    payouts = report.payout_vector()
    tx = ledger.market.attest_delivery(
        uuid_to_bytes32(s.id),
        bytes.fromhex(report.root.removeprefix("0x")),
        payouts,
        sender=oracle,
    )
    record_order_settlements(engine, report)
    return VerificationResult(
        s.id, "attested", report.root, tuple(payouts), tx_hash=tx.tx_hash, detail="attested"
    )


def _readings(
    ledger: Ledger,
    bundles: BundleStore,
    terms: SessionTerms | None,
    delivery_bundle: bytes,
    engine: Engine,
    session_id: str,
    digests: DigestSource | None,
    oracle: str,
) -> None:
    commit_readings(
        ledger=ledger,
        bundles=bundles,
        terms=terms,
        delivery_bundle=delivery_bundle,
        orders=load_orders(engine, session_id),
        source=digests,
        oracle=oracle,
    )


def make_verification_hook(
    *,
    engine: Engine,
    ledger: Ledger,
    bundles: BundleStore,
    oracle: str,
    rules: SettlementRules,
    on_result: Callable[[VerificationResult], object] | None = None,
    digests: DigestSource | None = None,
) -> Callable[[m.MarketSession], None]:
    """A ``Worker.verification_hook`` bound to the oracle's address and the rules."""

    def hook(s: m.MarketSession) -> None:
        result = verify_session(
            engine=engine,
            ledger=ledger,
            bundles=bundles,
            session=s,
            oracle=oracle,
            rules=rules,
            digests=digests,
        )
        if on_result is not None:
            on_result(result)

    return hook
