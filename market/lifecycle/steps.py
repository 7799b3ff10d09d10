"""The lifecycle steps. Each reads the chain first and returns (status, detail).

Status DONE moves the session on; BLOCKED and WAITING leave it where it is for a later tick.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from eth_utils.address import to_checksum_address
from sqlmodel import Session, select

from adapters.chain.errors import InvalidArgument
from adapters.chain.types import Reservation, SessionState
from clearing.bundle import (
    CongestionPoint,
    InputBundle,
    MarketRules,
    ResultBundle,
    SolverSpec,
    with_committed_terms,
)
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.errors import ClearingError
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from clearing.settlement.rules import SettlementError, SettlementRules
from market import relay
from market.errors import NotFound
from market.lifecycle.context import Outcome, StepContext
from market.lifecycle.dispatch import dispatch_report, summary
from market.lifecycle.receipts import build_receipts
from market.lifecycle.terms import build_terms, committed_terms, publish_terms
from market.lifecycle.uftp_proofs import publish_offer_proofs
from market.store import models as m

log = logging.getLogger(__name__)
ZERO32 = bytes(32)


def step_open(w: StepContext, s: m.MarketSession) -> Outcome:
    """Fix and publish the session's terms, then create it on-chain with their hash (unless it
    already exists there). Terms published before a crash are committed exactly as published."""
    state = w.chain_state(s.id)
    if state == SessionState.NONE:
        try:
            terms = committed_terms(w.bundles, s.id) or build_terms(
                w.engine,
                s,
                pricing_rule=w.pricing_rule,
                meter_grace_s=w.meter_grace_s,
                settlement=w.settlement_rules or SettlementRules(),
                readings_digests_required=w.readings_digests_required,
            )
        except ValueError as exc:  # pydantic's ValidationError names the field
            w.set_state(s.id, "REJECTED")
            return "DONE", f"the session terms are invalid: {exc}"
        problems = terms.problems()
        if problems:
            w.set_state(s.id, "REJECTED")
            return "DONE", "the session terms are invalid: " + "; ".join(
                f"{f}: {why}" for f, why in problems
            )
        try:
            tx = w.ledger.create_session(
                s.id,
                gate_closure=s.gate_closure,
                delivery_start=s.delivery_start,
                delivery_end=s.delivery_end,
                isp_s=s.isp_s,
                challenge_window_s=s.challenge_window_s,
                terms_hash=publish_terms(w.bundles, terms),
            )
        except InvalidArgument as exc:  # e.g. gate closure already past: it can never open
            w.set_state(s.id, "REJECTED")
            return "DONE", f"the chain refused the session: {exc}"
        w.set_state(s.id, "OPEN")
        return "DONE", f"createSession tx {tx.tx_hash}"
    w.set_state(s.id, _STORE_STATE[state])
    return "DONE", f"already {state.name} on-chain"


def step_close(w: StepContext, s: m.MarketSession) -> Outcome:
    """Check each FSP's offers against its commitment, hand out receipts, close on-chain."""
    t_start = time.perf_counter()
    missed = relay.close_relay(engine=w.engine, ledger=w.ledger, session_id=s.id)
    included, roots_read_s = build_receipts(w, s)
    t_tx = time.perf_counter()
    state = w.chain_state(s.id)
    detail = f"{included} offers included" + (
        f"; {missed} relay commitment(s) missed" if missed else ""
    )
    if state == SessionState.OPEN:
        tx = w.ledger.close_session(s.id)
        detail += f"; closeSession tx {tx.tx_hash}"
    w.crash_point("close:after_tx")
    w.set_state(s.id, "CLOSED")  # if the chain is further on, the clear step reconciles
    t_end = time.perf_counter()
    # the two times bench intraday reports (CLOSE_TIMES reads them back)
    return "DONE", (
        f"{detail}; roots read {roots_read_s:.3f} s; "
        f"receipts {t_tx - t_start:.3f} s, close {t_end - t_tx:.3f} s"
    )


#: The close step's detail's timings: the committed roots' chain reads, the receipts (relay
#: check, those reads, trees, proofs stored) and the closeSession transaction with the state
#: change, seconds.
CLOSE_TIMES = re.compile(
    r"roots read (?P<roots_read_s>[0-9.]+) s; "
    r"receipts (?P<receipts_s>[0-9.]+) s, close (?P<close_tx_s>[0-9.]+) s"
)


def build_input_bundle(w: StepContext, s: m.MarketSession) -> InputBundle:
    """The clearing input from the store: committed offers, escrowed requests, and the
    session's committed terms (grid, pricing, solver); a session opened before terms existed
    takes every congestion point of the store and the worker's pricing rule."""
    from clearing.solvers.highs_api import highs_version

    terms = committed_terms(w.bundles, s.id)
    with Session(w.engine) as db:
        if terms is not None:
            cps = terms.congestion_points
        else:
            points = db.exec(select(m.CongestionPoint).order_by(m.CongestionPoint.code))
            cps = tuple(
                CongestionPoint(
                    code=p.code,
                    parent=p.parent_code,
                    sensitivity_ppm=p.sensitivity_ppm,
                    max_increase_w=p.max_increase_w,
                    max_decrease_w=p.max_decrease_w,
                )
                for p in points
            )
        req_rows = db.exec(
            select(m.FlexRequestRow)
            .where(m.FlexRequestRow.session_id == s.id, m.FlexRequestRow.cancelled == False)  # noqa: E712
            .order_by(m.FlexRequestRow.id)
        )
        requests = []
        for r in req_rows:
            info = w.ledger.request(r.id)
            if info.cancelled or bytes(info.request_hash) != bytes.fromhex(r.body_hash[2:]):
                continue
            requests.append(FlexRequest.model_validate_json(r.body_json))
        request_ids = {r.request_id for r in requests}
        prognoses = tuple(
            DPrognosis.model_validate_json(p.body_json)
            for p in db.exec(
                select(m.PrognosisRow)
                .where(m.PrognosisRow.session_id == s.id)
                .order_by(m.PrognosisRow.id)
            )
        )
        # the offers' two columns only, not 1 000 ORM objects each, at the gate's busiest
        included = set(
            db.exec(
                select(m.OfferReceipt.offer_id).where(
                    m.OfferReceipt.session_id == s.id,
                    m.OfferReceipt.included == True,  # noqa: E712
                )
            )
        )
        offers = []
        for offer_id, body in db.exec(
            select(m.OfferRow.id, m.OfferRow.body_json)
            .where(m.OfferRow.session_id == s.id)
            .order_by(m.OfferRow.id)
        ):
            if offer_id not in included:
                continue
            offer = FlexOffer.model_validate_json(body)
            if offer.request_id is None or offer.request_id in request_ids:
                offers.append(offer)
    bundle = InputBundle(
        session_id=s.id,
        isp_s=s.isp_s,
        isp_count=(s.delivery_end - s.delivery_start) // s.isp_s,
        start_time=s.delivery_start,
        congestion_points=cps,
        requests=tuple(requests),
        prognoses=prognoses,
        offers=tuple(offers),
        rules=MarketRules(
            pricing_rule=w.pricing_rule,  # type: ignore[arg-type]
            solver=SolverSpec(name="highs", version=highs_version()),
        ),
        terms=terms,
    )
    return with_committed_terms(bundle)


def reservations_of(result: ResultBundle) -> list[Reservation]:
    return [
        Reservation(uuid_to_bytes32(c.request_id), to_checksum_address(c.fsp), c.payment_cap_units)
        for c in result.payment_caps
        if c.payment_cap_units > 0
    ]


def step_clear(w: StepContext, s: m.MarketSession) -> Outcome:
    """Clear, publish input + result bundles, post hash + root + reservations; reconcile."""
    from clearing.engine import clear

    info = w.ledger.session(s.id)
    if info.state >= SessionState.CLEARED:
        # Already posted (maybe by us before a crash): the published bundles must match.
        record = w.ledger.clearing(s.id)
        posted_input_bytes = w.bundles.get(s.id, "input")
        posted_result_bytes = w.bundles.get(s.id, "result")
        if record is None or keccak256(posted_input_bytes) != record.input_hash:
            onchain = hex32(record.input_hash) if record else "missing"
            return "BLOCKED", (
                f"on-chain inputHash {onchain} != published input bundle "
                f"{hex32(keccak256(posted_input_bytes))}"
            )
        result = ResultBundle.model_validate_json(posted_result_bytes)
        publish_offer_proofs(w.engine, w.bundles, s.id, posted_input_bytes)
        record_clearing(w, s, result, input_hash=hex32(keccak256(posted_input_bytes)))
        return "DONE", "reconciled with the clearing already on-chain"
    t_start = time.perf_counter()
    t_solve = t_solved = t_start
    input_bytes = _published(w, s, "input")
    result_bytes = _published(w, s, "result")
    if input_bytes is not None and result_bytes is not None:
        # Published before a crash but never posted: post exactly what the public can read.
        result = ResultBundle.model_validate_json(result_bytes)
        input_hash = hex32(keccak256(input_bytes))
    else:
        bundle = build_input_bundle(w, s)
        input_bytes = bundle.to_canonical()
        t_solve = time.perf_counter()
        try:
            result = clear(bundle)
        except ClearingError as exc:  # needs an operator; retrying the same input cannot help
            return "BLOCKED", f"clearing refused the input bundle: {exc}"
        t_solved = time.perf_counter()
        input_hash = w.bundles.publish(s.id, "input", input_bytes)
        w.bundles.publish(s.id, "result", result.to_canonical())
    publish_offer_proofs(w.engine, w.bundles, s.id, input_bytes)
    w.crash_point("clear:before_post")
    t_post = time.perf_counter()
    tx = w.ledger.post_clearing(
        s.id,
        input_hash=keccak256(input_bytes),
        result_root=_root_bytes(result.orders_root),
        reservations=reservations_of(result),
    )
    w.crash_point("clear:after_post")
    record_clearing(w, s, result, input_hash=input_hash)
    t_end = time.perf_counter()
    # the two times bench intraday reports (CLEAR_TIMES reads them back)
    return "DONE", (
        f"postClearing tx {tx.tx_hash}: {len(result.orders)} orders; "
        f"input {t_solve - t_start:.3f} s, solve {t_solved - t_solve:.3f} s; "
        f"clearing {t_post - t_start:.3f} s, post {t_end - t_post:.3f} s"
    )


#: The clear step's detail's timings: the input bundle (store and chain reads), HiGHS, all of
#: clearing (those two and the bundles' publication) and the postClearing transaction with
#: the orders' recording, seconds.
CLEAR_TIMES = re.compile(
    r"input (?P<input_s>[0-9.]+) s, solve (?P<solve_s>[0-9.]+) s; "
    r"clearing (?P<clearing_s>[0-9.]+) s, post (?P<post_s>[0-9.]+) s"
)


def _published(w: StepContext, s: m.MarketSession, kind: str) -> bytes | None:
    try:
        return w.bundles.get(s.id, kind)
    except NotFound:
        return None


def _root_bytes(root: str) -> bytes:
    raw = bytes.fromhex(root.removeprefix("0x"))
    return raw if raw else ZERO32


def record_clearing(
    w: StepContext, s: m.MarketSession, result: ResultBundle, *, input_hash: str
) -> None:
    """Orders into the store and the session to CLEARED (idempotent).

    Each new order and the state change are published (``GET /events``) in the same
    transaction, orders first: a client that sees CLEARED already has every order.
    """
    with Session(w.engine) as db:
        for order in result.orders:
            if db.get(m.OrderRow, order.order_id) is None:
                m.add_event(
                    db, "order", s.id, {"order": json.loads(order.to_canonical())}, fsp=order.fsp
                )
                db.add(
                    m.OrderRow(
                        id=order.order_id,
                        session_id=s.id,
                        offer_id=order.offer_id,
                        fsp=order.fsp,
                        request_id=order.request_id,
                        body_json=order.to_canonical().decode(),
                    )
                )
        row = db.get(m.MarketSession, s.id)
        assert row is not None
        if row.state != "CLEARED":
            data = {"state": "CLEARED", "from": row.state, "result_root": result.orders_root}
            m.add_event(db, "session_state", s.id, {**data, "orders": len(result.orders)})
        row.state = "CLEARED"
        row.input_hash = input_hash
        row.result_root = result.orders_root
        db.add(row)
        db.commit()


def step_dispatch(w: StepContext, s: m.MarketSession) -> Outcome:
    """Delivery starts: record which orders their FSPs acknowledged, then DELIVERING.

    The market does not dispatch: each FSP received its orders when the session cleared
    (``GET /events``) and acknowledges them with a signed ``dispatch_ack``. The step waits
    until every order is acknowledged or delivery starts, whichever comes first; an order
    still unacknowledged then is named in the detail and logged, never silently dropped.
    """
    report = dispatch_report(w.engine, s.id)
    missing = {r.fsp: r.unacknowledged for r in report if r.unacknowledged}
    if missing and w.clock.now() < s.delivery_start:
        return "WAITING", f"{summary(report)}; delivery starts at {s.delivery_start}"
    for fsp, order_ids in missing.items():
        log.warning(
            "session %s: delivery started, FSP %s has not acknowledged %d order(s): %s",
            s.id,
            fsp,
            len(order_ids),
            ", ".join(order_ids),
        )
    w.set_state(s.id, "DELIVERING")
    unacked = sum(len(v) for v in missing.values())
    tail = f"; {unacked} unacknowledged at delivery start" if unacked else ""
    return "DONE", f"{summary(report)}{tail}"


def record_statements(w: StepContext, s: m.MarketSession) -> int:
    """Per (request, FSP) statement: reserved maximum and attested payout, from the chain."""
    clearing = w.ledger.clearing(s.id)
    attested = w.ledger.payouts(s.id)
    reservations = clearing.reservations if clearing else ()
    payouts = attested.payouts if attested else tuple(0 for _ in reservations)
    with Session(w.engine) as db:
        for i, (res, payout) in enumerate(zip(reservations, payouts, strict=True)):
            statement_id = str(uuid.uuid5(uuid.UUID(s.id), f"reservation:{i}"))
            row = db.get(m.Settlement, statement_id) or m.Settlement(
                id=statement_id, session_id=s.id, order_id="", fsp=res.fsp.lower(), body_json=""
            )
            row.payout_units = int(payout)
            row.body_json = json.dumps(
                {
                    "index": i,
                    "request_id_onchain": hex32(res.request_id),
                    "fsp": res.fsp.lower(),
                    "reserved_units": int(res.amount),
                    "payout_units": int(payout),
                },
                sort_keys=True,
            )
            db.add(row)
        db.commit()
    return len(reservations)


def _delivery_root(w: StepContext, s: m.MarketSession) -> str | None:
    attested = w.ledger.payouts(s.id)
    return hex32(attested.delivery_root) if attested else None


def step_verify(w: StepContext, s: m.MarketSession) -> Outcome:
    """After delivery + meter grace: verification (a later issue) takes over, if configured."""
    state = w.chain_state(s.id)
    if state >= SessionState.VERIFIED:
        n = record_statements(w, s)
        w.set_state(s.id, _STORE_STATE[state], delivery_root=_delivery_root(w, s))
        return "DONE", f"chain says {state.name}; {n} statements recorded"
    if w.verification_hook is None:
        return "BLOCKED", (
            "delivery verification is not configured (set FLEXMARKET_ORACLE_KEY to a "
            "METER_ORACLE key); the session stays DELIVERING until a meter oracle attests "
            "delivery on-chain"
        )
    try:
        w.verification_hook(s)
    except SettlementError as exc:  # inputs an operator must fix; retrying cannot help
        return "BLOCKED", f"delivery verification refused: {exc}"
    state = w.chain_state(s.id)
    if state >= SessionState.VERIFIED:
        record_statements(w, s)
        w.set_state(s.id, _STORE_STATE[state], delivery_root=_delivery_root(w, s))
        return "DONE", "verified by the hook"
    return "WAITING", "verification hook ran; delivery not attested on-chain yet"


def step_finalize(w: StepContext, s: m.MarketSession) -> Outcome:
    """After the challenge window: finalize on-chain (anyone may; the operator does)."""
    info = w.ledger.session(s.id)
    if info.state == SessionState.FINAL:
        record_statements(w, s)
        w.set_state(s.id, "FINAL", delivery_root=_delivery_root(w, s))
        return "DONE", "already final on-chain"
    if info.state == SessionState.DISPUTED:
        w.set_state(s.id, "DISPUTED")
        return "WAITING", "disputed: waiting for the arbiter"
    if w.clock.now() < info.verified_at + info.challenge_window:
        return "WAITING", "challenge window still open"
    tx = w.ledger.finalize(s.id)
    w.crash_point("finalize:after_tx")
    record_statements(w, s)
    w.set_state(s.id, "FINAL")
    return "DONE", f"finalize tx {tx.tx_hash}"


def step_clearing(w: StepContext, s: m.MarketSession) -> Outcome:
    """After FINAL: the clearing house nets the session (market payouts + revenue sharing).

    Its own step, so a session the indexer marked FINAL (e.g. after an arbiter's resolve) or
    a worker that crashed after finalize still gets netted; refusals block until fixed."""
    from adapters.chain.errors import ContractRevert
    from market.errors import FlexMarketError

    if w.clearing_hook is None:
        return "DONE", "no clearing house configured"
    if w.chain_state(s.id) != SessionState.FINAL:
        return "WAITING", "the session is not FINAL on-chain yet"
    try:
        return "DONE", f"clearing house: {w.clearing_hook(s)}"
    except (SettlementError, ContractRevert, FlexMarketError) as exc:
        return "BLOCKED", f"clearing house refused the netting: {exc}"


#: The store's state for each on-chain state: the contract's ``State`` names (``None`` is no
#: session, so it has none).
_STORE_STATE: dict[Any, str] = {
    state: state.name for state in SessionState if state != SessionState.NONE
}
#: The store's own states around the contract's: before ``createSession``, and delivery
#: (off-chain, between CLEARED and VERIFIED).
PENDING, DELIVERING = "PENDING", "DELIVERING"

Step = Callable[[StepContext, m.MarketSession], Outcome]

#: The lifecycle in one table: store state -> (the step that moves it on, its function). The
#: worker runs it; FINAL's step runs only when a clearing house is configured (``_due``).
STEP_TABLE: dict[str, tuple[str, Step]] = {
    PENDING: ("open", step_open),
    SessionState.OPEN.name: ("close", step_close),
    SessionState.CLOSED.name: ("clear", step_clear),
    SessionState.CLEARED.name: ("dispatch", step_dispatch),
    DELIVERING: ("verify", step_verify),
    SessionState.VERIFIED.name: ("finalize", step_finalize),
    SessionState.DISPUTED.name: ("finalize", step_finalize),
    SessionState.FINAL.name: ("clearing", step_clearing),
}
#: Step name -> its function.
STEPS: dict[str, Step] = dict(STEP_TABLE.values())
