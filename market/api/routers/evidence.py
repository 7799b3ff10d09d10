"""A session's on-chain evidence in one read: its events with transaction hashes and blocks,
the escrow of each request, and the published bundles with their keccak256.

Why a route of its own: the auditor and DSO pages show where each root and hash was anchored;
every value here is read from the chain at request time (not from the service's store), except
the bundle hashes, which a reader checks against the chain values printed beside them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlmodel import Session, col, select

from adapters.chain.errors import ChainError
from adapters.chain.session_view import SESSION_EVENTS
from clearing.encoding import hex32, uuid_to_bytes32
from market.api.deps import CoreDep
from market.api.routers.sessions import load_session
from market.errors import ChainUnavailable
from market.ledger import Ledger
from market.store import models as m

router = APIRouter(tags=["sessions"])


class ChainEvent(BaseModel):
    """One event of the session as mined: where it is and what it anchored."""

    event: str
    block: int
    block_time: int
    tx_hash: str
    log_index: int
    args: dict[str, Any]


class RequestEscrow(BaseModel):
    """A request's escrow as the chain holds it; ``hash_matches``: the stored body's hash."""

    request_id: str
    dso: str
    budget_units: int
    cancelled: bool
    hash_matches: bool


class BundleEvidence(BaseModel):
    kind: str
    keccak: str
    url: str


class SessionEvidence(BaseModel):
    session_id: str
    onchain_id: str
    chain_id: int
    market_address: str
    chain_state: str
    input_hash: str
    result_root: str
    delivery_root: str
    events: list[ChainEvent]
    requests: list[RequestEscrow]
    bundles: list[BundleEvidence]


def _jsonable(value: Any) -> Any:
    """Event arguments as JSON: bytes as 0x-hex, tuples and structs as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def _events(ledger: Ledger, session_id: str) -> list[ChainEvent]:
    found = [e for name in SESSION_EVENTS for e in ledger.session_events(name, session_id)]
    found.sort(key=lambda e: (e.block_number, e.log_index))
    times = {b: ledger.client.block_timestamp(b) for b in {e.block_number for e in found}}
    return [
        ChainEvent(
            event=e.name,
            block=e.block_number,
            block_time=times[e.block_number],
            tx_hash=e.tx_hash,
            log_index=e.log_index,
            args={k: _jsonable(v) for k, v in e.args.items() if k != "sessionId"},
        )
        for e in found
    ]


def _escrows(ledger: Ledger, rows: list[m.FlexRequestRow]) -> list[RequestEscrow]:
    out = []
    for r in rows:
        info = ledger.request(r.id)
        out.append(
            RequestEscrow(
                request_id=r.id,
                dso=info.dso.lower(),
                budget_units=info.budget,
                cancelled=info.cancelled,
                hash_matches=hex32(bytes(info.request_hash)) == r.body_hash.lower(),
            )
        )
    return out


@router.get(
    "/sessions/{session_id}/evidence",
    response_model=SessionEvidence,
    responses={404: {}, 503: {}},
)
def session_evidence(session_id: str, core: CoreDep, request: Request) -> SessionEvidence:
    """Events (tx hash, block), request escrows and bundle hashes of a session, from the chain."""
    session = load_session(core, session_id)
    ledger: Ledger | None = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise ChainUnavailable("this service runs without a chain (no ledger)", field="rpc_url")
    with Session(core.engine) as db:
        requests = list(
            db.exec(
                select(m.FlexRequestRow)
                .where(m.FlexRequestRow.session_id == session_id)
                .order_by(col(m.FlexRequestRow.id))
            )
        )
        bundles = list(
            db.exec(select(m.BundleRecord).where(m.BundleRecord.session_id == session_id))
        )
    try:
        chain = ledger.session(session_id)
        events = _events(ledger, session_id)
        escrows = _escrows(ledger, requests)
    except ChainError as exc:
        raise ChainUnavailable(f"reading the chain failed: {exc}", field="rpc_url") from exc
    roots = {"input_hash": "", "result_root": "", "delivery_root": ""}
    for e in events:  # the latest anchoring event wins (a resolved dispute corrects the root)
        if e.event == "ClearingPosted":
            roots["input_hash"] = e.args.get("inputHash", "")
            roots["result_root"] = e.args.get("resultRoot", "")
        elif e.event == "DeliveryAttested":
            roots["delivery_root"] = e.args.get("deliveryRoot", "")
        elif e.event == "DisputeResolved":
            roots["delivery_root"] = e.args.get("correctedRoot", "")
    order = {"input": 0, "result": 1, "delivery": 2}
    return SessionEvidence(
        session_id=session.id,
        onchain_id=hex32(uuid_to_bytes32(session.id)),
        chain_id=ledger.chain_id,
        market_address=ledger.market_address,
        chain_state=chain.state.name,
        **roots,
        events=events,
        requests=escrows,
        bundles=[
            BundleEvidence(
                kind=b.kind, keccak=b.keccak, url=f"/sessions/{session_id}/bundles/{b.kind}"
            )
            for b in sorted(bundles, key=lambda b: order.get(b.kind, 9))
        ],
    )
