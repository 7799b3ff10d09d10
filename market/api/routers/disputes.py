"""Disputes: evidence from a disputing DSO or FSP, and the arbiter's resolution.

A party disputes on-chain itself (``dispute(sessionId, reasonHash, requestId)``); here it posts
its evidence (its own station-signed meter readings) as a signed ``dispute_evidence`` message,
accepted while the session is VERIFIED inside the challenge window or DISPUTED. The arbiter
(``flexmarket arbiter resolve``) recomputes with it; the corrected bundle is served here.
"""

from __future__ import annotations

import json
from typing import Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from adapters.chain.types import SessionState
from market.api.deps import CoreDep
from market.api.routers._settlement_auth import verified_envelope
from market.api.routers._write import WRITE_RESPONSES
from market.api.routers.sessions import BUNDLE_RESPONSE
from market.api.schemas import Signed
from market.clearing_house import store
from market.core import MarketCore
from market.errors import Conflict, Forbidden, InvalidMessage, NotFound
from market.store import models as m
from market.store.models.clearing_house import (
    DisputeEvidence,
    DisputesPublic,
    EvidenceAccepted,
)

router = APIRouter(tags=["disputes"])


def _check_party(core: MarketCore, ledger: Any, session_id: str, signer: str) -> None:
    """Only the session's parties give evidence: an FSP that committed offers to it, or a DSO
    with a request in it (the same rule as the contract's ``dispute``)."""
    if ledger.offer_root(session_id, to_checksum_address(signer)) != bytes(32):
        return
    with Session(core.engine) as db:
        dso_request = db.exec(
            select(m.FlexRequestRow).where(
                m.FlexRequestRow.session_id == session_id, m.FlexRequestRow.dso == signer
            )
        ).first()
    if dso_request is None:
        raise Forbidden(f"{signer} is not a party of session {session_id}", field="signer")


def _check_window(request: Request, core: MarketCore, session_id: str, signer: str) -> str:
    ledger = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise Conflict("disputes need the chain: no ledger configured", field="session_id")
    _check_party(core, ledger, session_id, signer)
    now = core.clock.now()
    info = ledger.session(session_id)
    if info.state == SessionState.DISPUTED:
        return "DISPUTED"
    if info.state == SessionState.VERIFIED:
        deadline = info.verified_at + info.challenge_window
        if now < deadline:
            return "VERIFIED"
        raise Conflict(
            f"challenge window of {session_id} closed at {deadline} (now {int(now)})",
            field="body.session_id",
        )
    raise Conflict(
        f"session {session_id} is {info.state.name} on-chain: evidence is taken while it is "
        "VERIFIED (inside the challenge window) or DISPUTED",
        field="body.session_id",
    )


@router.post(
    "/sessions/{session_id}/disputes/evidence",
    status_code=201,
    response_model=EvidenceAccepted,
    responses={200: {"model": EvidenceAccepted, "description": "Replayed"}, **WRITE_RESPONSES},
)
async def post_evidence(
    session_id: str, env: Signed[DisputeEvidence], core: CoreDep, request: Request
) -> Response:
    """Post dispute evidence (kind ``dispute_evidence``; a DSO or FSP of the market)."""
    raw, signer = await verified_envelope(
        core, request, kind="dispute_evidence", roles={"DSO", "FSP"}
    )
    if env.body.session_id != session_id:
        raise InvalidMessage("must equal the session in the path", field="body.session_id")
    state = await run_in_threadpool(_check_window, request, core, session_id, signer)
    now = core.clock.now()
    new = await run_in_threadpool(
        store.save_evidence,
        core.engine,
        message_id=raw["message_id"],
        session_id=session_id,
        submitter=signer,
        body=env.body.model_dump(mode="json"),
        at=int(now),
    )
    body = EvidenceAccepted(
        message_id=raw["message_id"],
        session_id=session_id,
        submitter=signer,
        readings=len(env.body.readings),
        chain_state=state,
    )
    return Response(
        content=json.dumps(body.model_dump()),
        status_code=201 if new else 200,
        media_type="application/json",
        headers=None if new else {"Idempotent-Replay": "true"},
    )


@router.get("/sessions/{session_id}/disputes", response_model=DisputesPublic)
def list_disputes(session_id: str, core: CoreDep) -> dict[str, Any]:
    """Evidence posted for the session and the arbiter's resolution (public)."""
    resolution = store.load_resolution(core.engine, session_id)
    return {
        "session_id": session_id,
        "evidence": store.load_evidence(core.engine, session_id),
        "resolution": None
        if resolution is None
        else {k: resolution[k] for k in ("corrected_root", "tx_hash")},
    }


@router.get(
    "/sessions/{session_id}/disputes/resolution/bundle",
    response_class=Response,
    responses=BUNDLE_RESPONSE,
)
def resolution_bundle(session_id: str, core: CoreDep) -> Response:
    """The arbiter's corrected delivery bundle, byte-exact (its report root is on-chain)."""
    resolution = store.load_resolution(core.engine, session_id)
    if resolution is None:
        raise NotFound(f"session {session_id} has no dispute resolution", field="session_id")
    return Response(resolution["bundle"], media_type="application/json")
