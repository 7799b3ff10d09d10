"""Follows FlexMarket events into the store, and rebuilds public state from chain + bundles.

The chain holds hashes, not UUIDs or bodies; the published bundles hold the bodies. So
``reindex`` takes participants and session states from events, and requests, prognoses,
offers, receipts and orders from every published bundle whose keccak256 matches the chain.
Sessions with no published bundle cannot be named off-chain and are reported as skipped.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from adapters.chain.errors import ChainError
from adapters.chain.session_view import SESSION_EVENTS
from adapters.chain.types import SessionState
from clearing.bundle import InputBundle, ResultBundle
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from market import reorg
from market.bundles import BundleStore, offer_tree
from market.ledger import Ledger
from market.roles import ROLE_NAMES, RoleCache, role_id
from market.store import models as m

log = logging.getLogger(__name__)
CURSOR = "flexmarket"
LOCK_WAIT_S = 30.0  # longer than any sync but a first one over a long history
_ROLE_BY_ID = {role_id(n): n for n in ROLE_NAMES}
# Events the store follows. OffersCommitted, ReadingsDigestsCommitted and SessionRefundedStuck
# change nothing here (the SessionFinalized that follows a refund does; the readings root lives
# in its bundle), so fetching them would be one RPC per sync spent on logs that are thrown away.
_IGNORED = frozenset({"OffersCommitted", "ReadingsDigestsCommitted", "SessionRefundedStuck"})
EVENTS = (
    "ParticipantRegistered",
    "ParticipantRevoked",
    "RoleRevoked",  # `flexmarket admin revoke-role`: the API must stop honouring it at once
    *(name for name in SESSION_EVENTS if name not in _IGNORED),
)


@dataclass
class Indexer:
    """Applies events from ``deploy_block`` on; the cursor makes every sync incremental.

    Only blocks with ``confirmations`` blocks on top are applied; a reorg below the cursor is
    rolled back first (``market.reorg``), then the new chain's events are applied.
    """

    engine: Engine
    ledger: Ledger
    deploy_block: int = 0
    roles: RoleCache | None = None
    step: int = 2000
    confirmations: int = 0
    _known: dict[str, str] = field(default_factory=dict)
    rollbacks: list[reorg.Rollback] = field(default_factory=list)
    _block: int = 0  # the block of the event being applied (for the undo journal)

    def sync(self, to_block: int | None = None) -> int:
        """Apply new events up to ``to_block`` (default: the latest confirmed block).

        Returns how many events were applied. Several worker processes follow one store: one
        at a time applies (a database lock) while the others wait, then find the cursor moved
        on, so two never insert the same participant or event (found by ``bench api
        --workers 2``).
        """
        from market.lifecycle.locks import step_lock

        holder = f"{socket.gethostname()}:{os.getpid()}"
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            with step_lock(self.engine, f"indexer:{CURSOR}", holder) as got:
                if got:
                    return self._sync(to_block)
            if time.monotonic() > deadline:
                log.warning("indexer: another process has synced for %s s; next tick", LOCK_WAIT_S)
                return 0
            time.sleep(0.05)

    def _sync(self, to_block: int | None) -> int:
        client = self.ledger.client
        confirmed = client.block_number() - self.confirmations
        last = confirmed if to_block is None else min(to_block, confirmed)
        self._roll_back_reorg()
        with Session(self.engine) as db:
            cursor = db.get(m.IndexerCursor, CURSOR)
            start = cursor.block + 1 if cursor else self.deploy_block
        if start > last:
            return 0
        last_hash = reorg.block_hash(client, last)
        events = []
        for name in EVENTS:
            try:
                events += client.get_events(
                    name, start, last, address=self.ledger.market_address, step=self.step
                )
            except ChainError as exc:  # an event this deployment's ABI lacks: say so, go on
                log.warning("indexer: skipping %s (%s)", name, exc)
        if last_hash is None or reorg.block_hash(client, last) != last_hash:
            return 0  # the chain changed while reading: these logs may mix forks; next tick
        events.sort(key=lambda e: (e.block_number, e.log_index))
        self._load_session_ids()
        with Session(self.engine) as db:
            for event in events:
                self._block = event.block_number
                self._apply(db, event.name, event.args)
                if event.block_hash:
                    reorg.record_block(db, CURSOR, event.block_number, event.block_hash)
            reorg.record_block(db, CURSOR, last, last_hash)
            reorg.prune(db, CURSOR, last - reorg.REORG_WINDOW)
            cursor = db.get(m.IndexerCursor, CURSOR) or m.IndexerCursor(name=CURSOR)
            cursor.block = last
            db.add(cursor)
            db.commit()
        return len(events)

    def _roll_back_reorg(self) -> None:
        """If the cursor's block was replaced, put the store back to the fork point."""
        with Session(self.engine) as db:
            cursor = db.get(m.IndexerCursor, CURSOR)
            if cursor is None:
                return
            fork = reorg.find_fork(db, self.ledger.client, CURSOR, cursor.block)
            if fork is None:
                return
            undone, sessions = reorg.roll_back(db, CURSOR, fork)
            for session_id in sorted(sessions):
                row = db.get(m.MarketSession, session_id)
                if row is not None:
                    chain_state = self.ledger.session(session_id).state.name
                    before = row.state
                    row.state = reorg.store_state_after_reorg(row.state, chain_state)
                    if row.state != before:  # published too: the feed shows the step back
                        data = {"state": row.state, "from": before, "reorg": True}
                        m.add_event(db, "session_state", session_id, data)
                    db.add(row)
            rollback = reorg.Rollback(cursor.block, fork, undone, tuple(sorted(sessions)))
            cursor.block = fork
            db.add(cursor)
            db.commit()
        self.rollbacks.append(rollback)
        if self.roles is not None:
            self.roles.invalidate()
        log.warning(
            "indexer: reorg below block %d; store rolled back to block %d (%d rows undone)",
            rollback.from_block,
            fork,
            undone,
        )

    def _journal(self, db: Session, table: str, key: str, row: Any) -> None:
        reorg.journal(db, CURSOR, self._block, table, key, row)

    def _load_session_ids(self) -> None:
        with Session(self.engine) as db:
            table: Any = m.MarketSession.__table__  # type: ignore[attr-defined]
            for session_row in db.exec(table.select()):
                self._known[session_row.onchain_id] = session_row.id

    def _apply(self, db: Session, name: str, args: dict[str, Any]) -> None:
        if name == "ParticipantRegistered":
            address = args["account"].lower()
            existing = db.get(m.Participant, address)
            self._journal(db, "participant", address, existing)
            participant = existing or m.Participant(address=address)
            names = [_ROLE_BY_ID.get(bytes(r), "") for r in args["roles"]]
            participant.roles = ",".join(sorted({n for n in names if n}))
            db.add(participant)
            if self.roles is not None:
                self.roles.invalidate(address)
        elif name == "ParticipantRevoked":
            address = args["account"].lower()
            revoked = db.get(m.Participant, address)
            if revoked is not None:
                self._journal(db, "participant", address, revoked)
                revoked.roles = ""
                db.add(revoked)
            if self.roles is not None:
                self.roles.invalidate(address)
        elif name == "RoleRevoked":
            address = args["account"].lower()
            holder = db.get(m.Participant, address)
            revoked_name = _ROLE_BY_ID.get(bytes(args["role"]))
            if holder is not None and revoked_name:
                kept = [r for r in holder.roles.split(",") if r and r != revoked_name]
                holder.roles = ",".join(kept)
                db.add(holder)
            if self.roles is not None:
                self.roles.invalidate(address)
        elif name == "RequestCancelled":
            requests: Any = m.FlexRequestRow.__table__  # type: ignore[attr-defined]
            for request_row in db.exec(requests.select()):
                if uuid_to_bytes32(request_row.id) == bytes(args["requestId"]):
                    req = db.get(m.FlexRequestRow, request_row.id)
                    assert req is not None
                    self._journal(db, "flex_request", req.id, req)
                    req.cancelled = True
                    db.add(req)
        elif "sessionId" in args:
            session_id = self._known.get(hex32(bytes(args["sessionId"])))
            if session_id is None:
                return  # a session this store never saw; reindex names it from its bundles
            session_row = db.get(m.MarketSession, session_id)
            if session_row is None:
                return
            self._journal(db, "market_session", session_id, session_row)
            before = session_row.state
            self._follow_state(session_row, name, args)
            if session_row.state != before:  # published with the change (GET /events)
                data = {"state": session_row.state, "from": before}
                m.add_event(db, "session_state", session_id, data)
            db.add(session_row)

    @staticmethod
    def _follow_state(row: m.MarketSession, name: str, args: dict[str, Any]) -> None:
        # The store only moves forward; DELIVERING (off-chain) sits between CLEARED and VERIFIED.
        order = [
            "PENDING",
            "OPEN",
            "CLOSED",
            "CLEARED",
            "DELIVERING",
            "VERIFIED",
            "DISPUTED",
            "FINAL",
        ]
        target = {
            "SessionCreated": "OPEN",
            "SessionClosed": "CLOSED",
            "ClearingPosted": "CLEARED",
            "DeliveryAttested": "VERIFIED",
            "SessionDisputed": "DISPUTED",
            "DisputeResolved": "FINAL",
            "SessionFinalized": "FINAL",
        }.get(name)
        if name == "ClearingPosted":
            row.input_hash = hex32(bytes(args["inputHash"]))
            row.result_root = hex32(bytes(args["resultRoot"]))
        if name in ("DeliveryAttested", "DisputeResolved"):
            key = "deliveryRoot" if name == "DeliveryAttested" else "correctedRoot"
            row.delivery_root = hex32(bytes(args[key]))
        # CLOSED/CLEARED are left to the worker, which must hand out receipts and orders.
        forward = target is not None and order.index(target) > order.index(row.state)
        if forward and target in ("OPEN", "VERIFIED", "DISPUTED", "FINAL"):
            row.state = target


def reindex(
    engine: Engine, ledger: Ledger, bundles: BundleStore, *, deploy_block: int = 0
) -> dict[str, Any]:
    """Rebuild public state into an empty (migrated) store; returns a summary."""
    indexer = Indexer(engine, ledger, deploy_block)
    restored, skipped, mismatched = [], [], []
    onchain = {
        hex32(bytes(e.args["sessionId"])): e.args
        for e in ledger.client.get_events(
            "SessionCreated", deploy_block, address=ledger.market_address
        )
    }
    by_hash = {
        hex32(uuid_to_bytes32(sid)): sid for sid in _published_session_ids(bundles.directory)
    }
    for onchain_id in onchain:
        session_id = by_hash.get(onchain_id)
        if session_id is None:
            skipped.append(onchain_id)
            continue
        if _restore_session(engine, ledger, bundles, session_id, onchain_id):
            restored.append(session_id)
        else:
            mismatched.append(session_id)
    applied = indexer.sync()
    return {
        "events": applied,
        "sessions_restored": sorted(restored),
        "sessions_skipped_no_bundle": sorted(skipped),
        "sessions_bundle_mismatch": sorted(mismatched),
    }


def _published_session_ids(directory: Path) -> list[str]:
    ids = []
    if directory.is_dir():
        for child in directory.iterdir():
            try:
                ids.append(str(uuid.UUID(child.name)))
            except ValueError:
                continue
    return ids


def _restore_session(
    engine: Engine, ledger: Ledger, bundles: BundleStore, session_id: str, onchain_id: str
) -> bool:
    info = ledger.session(session_id)
    clearing = ledger.clearing(session_id)
    attested = ledger.payouts(session_id)
    input_bytes = bundles.read_file(session_id, "input")
    result_bytes = bundles.read_file(session_id, "result")
    if clearing is None or input_bytes is None or keccak256(input_bytes) != clearing.input_hash:
        log.warning("session %s: input bundle missing or not the one on-chain", session_id)
        return False
    inp = InputBundle.model_validate_json(input_bytes)
    result = ResultBundle.model_validate_json(result_bytes) if result_bytes else None
    if result is not None and bytes.fromhex(result.orders_root[2:]) != clearing.result_root:
        log.warning("session %s: result bundle root differs from the chain", session_id)
        return False
    with Session(engine) as db:
        db.add(
            m.MarketSession(
                id=session_id,
                onchain_id=onchain_id,
                state="OPEN" if info.state == SessionState.NONE else info.state.name,
                gate_closure=info.gate_closure,
                delivery_start=info.delivery_start,
                delivery_end=info.delivery_end,
                isp_s=info.isp_s,
                challenge_window_s=info.challenge_window,
                input_hash=hex32(clearing.input_hash),
                result_root=hex32(clearing.result_root),
                delivery_root=hex32(attested.delivery_root) if attested else None,
            )
        )
        for cp in inp.congestion_points:
            if db.get(m.CongestionPoint, cp.code) is None:
                db.add(
                    m.CongestionPoint(
                        code=cp.code,
                        parent_code=cp.parent,
                        sensitivity_ppm=cp.sensitivity_ppm,
                        max_increase_w=cp.max_increase_w,
                        max_decrease_w=cp.max_decrease_w,
                    )
                )
        for r in inp.requests:
            onchain_req = ledger.request(r.request_id)
            body = r.to_canonical()
            db.add(
                m.FlexRequestRow(
                    id=r.request_id,
                    session_id=session_id,
                    dso=onchain_req.dso.lower(),
                    congestion_point=r.congestion_point,
                    direction=r.direction,
                    budget_units=r.budget_units,
                    body_json=body.decode(),
                    body_hash=hex32(keccak256(body)),
                    message_id="",
                    cancelled=onchain_req.cancelled,
                )
            )
        for p in inp.prognoses:
            body = p.to_canonical()
            db.add(
                m.PrognosisRow(
                    id=p.prognosis_id,
                    session_id=session_id,
                    fsp=p.fsp,
                    congestion_point=p.congestion_point,
                    body_json=body.decode(),
                    body_hash=hex32(keccak256(body)),
                    message_id="",
                )
            )
        by_fsp: dict[str, list[tuple[str, bytes]]] = {}
        for o in inp.offers:
            body = o.to_canonical()
            by_fsp.setdefault(o.fsp, []).append((o.offer_id, body))
            db.add(
                m.OfferRow(
                    id=o.offer_id,
                    session_id=session_id,
                    fsp=o.fsp,
                    congestion_point=o.congestion_point,
                    request_id=o.request_id,
                    body_json=body.decode(),
                    body_hash=hex32(keccak256(body)),
                    message_id="",
                )
            )
        for fsp, items in by_fsp.items():
            items.sort()
            tree = offer_tree(items)
            for i, (offer_id, _) in enumerate(items):
                db.add(
                    m.OfferReceipt(
                        offer_id=offer_id,
                        session_id=session_id,
                        fsp=fsp,
                        root=hex32(tree.root),
                        leaf_hash=hex32(tree.leaf_hash(tree.values[i])),
                        proof_json=json.dumps([hex32(p) for p in tree.proof(i)]),
                    )
                )
        for order in result.orders if result else ():
            db.add(
                m.OrderRow(
                    id=order.order_id,
                    session_id=session_id,
                    offer_id=order.offer_id,
                    fsp=order.fsp,
                    request_id=order.request_id,
                    body_json=order.to_canonical().decode(),
                )
            )
        for kind, content in (("input", input_bytes), ("result", result_bytes)):
            if content is not None:
                db.add(
                    m.BundleRecord(
                        session_id=session_id,
                        kind=kind,
                        keccak=hex32(keccak256(content)),
                        content=content,
                    )
                )
        db.commit()
    return True
