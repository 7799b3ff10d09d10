"""The commitment relay: an FSP posts its EIP-712-signed offer commitment, the operator relays
it on-chain in a ``commitOffersBySig`` batch before gate closure (market/relay.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from market.api.deps import CoreDep
from market.errors import ChainUnavailable
from market.relay import accept_commitment
from market.store import models as m

router = APIRouter(tags=["commitments"])

RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "the identical commitment was already stored"},
    401: {"description": "the signature does not recover"},
    403: {"description": "the signer does not hold FSP_ROLE"},
    404: {"description": "no such session"},
    409: {"description": "not OPEN, past gate closure, or a different commitment"},
    422: {"description": "a field is malformed"},
}


@router.post(
    "/sessions/{session_id}/commitments",
    status_code=201,
    response_model=m.CommitmentPublic,
    responses=RESPONSES,
)
async def post_commitment(
    session_id: str, body: m.CommitmentCreate, core: CoreDep, request: Request
) -> JSONResponse:
    """Store an FSP's signed commitment (offers root and count, prognosis and portfolio
    hashes; 65-byte EIP-712 ``Commitment`` signature) for the operator to relay. The signer is
    recovered from the signature; posting the identical one again answers 200."""
    ledger = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise ChainUnavailable("the relay needs the chain: no ledger", field="session_id")
    created, stored = await run_in_threadpool(
        lambda: accept_commitment(
            engine=core.engine,
            ledger=ledger,
            roles_of=core.roles.roles_of,
            now=int(core.clock.now()),
            session_id=session_id,
            body=body,
        )
    )
    return JSONResponse(stored.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/sessions/{session_id}/commitments", response_model=list[m.CommitmentPublic])
def list_commitments(session_id: str, core: CoreDep) -> list[m.CommitmentPublic]:
    """The session's relayed (or pending) commitments, with their status and relay tx."""
    with Session(core.engine) as db:
        q = select(m.RelayCommitment).where(m.RelayCommitment.session_id == session_id)
        return [
            m.CommitmentPublic.from_row(r) for r in db.exec(q.order_by(col(m.RelayCommitment.fsp)))
        ]
