"""Request drafts of a DSO gateway in ``requests.approval: manual`` mode, and the DSO's
approve/reject (market/core/drafts.py). Reads need the DSO's SIWE token: drafts are private.

Approving records the DSO's signed word only; the page then escrows the budget and posts the
drafted request from the DSO's own wallet (POST /requests), so the key that moves money
stays with the person who approved.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from market.api.deps import CoreDep, SignedInDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import InvalidMessage
from market.store.models import (
    RequestDraftCreate,
    RequestDraftDecisionCreate,
    RequestDraftPublic,
)

router = APIRouter(tags=["request drafts"])

_RESPONSES = {**WRITE_RESPONSES, 404: {"description": "Unknown draft or session"}}


@router.post(
    "/request-drafts", status_code=201, response_model=RequestDraftPublic, responses=_RESPONSES
)
async def create(env: Signed[RequestDraftCreate], core: CoreDep, request: Request) -> Response:
    """A DSO gateway drafts a request for its DSO's approval (kind ``request_draft``; DSO).
    Nothing is escrowed: the draft waits for ``approve`` or ``reject``."""
    return await submit_signed(core, "request_draft", request, env.body)


@router.get("/request-drafts", response_model=list[RequestDraftPublic])
def list_drafts(
    core: CoreDep, reader: SignedInDep, session_id: str | None = None
) -> list[dict[str, Any]]:
    """The signed-in DSO's own drafts (optionally of one session), with their status now;
    nobody reads another's (any other signed-in party gets an empty list)."""
    return core.drafts_of(reader, session_id=session_id, now=int(core.clock.now()))


@router.get(
    "/request-drafts/{draft_id}", response_model=RequestDraftPublic, responses={404: {}, 403: {}}
)
def get_draft(draft_id: str, core: CoreDep, reader: SignedInDep) -> dict[str, Any]:
    return core.draft_of(reader, draft_id, now=int(core.clock.now()))


async def _decide(
    decision: str,
    draft_id: str,
    env: Signed[RequestDraftDecisionCreate],
    core: CoreDep,
    request: Request,
) -> Response:
    if env.body.draft_id != draft_id:
        raise InvalidMessage(f"must be {draft_id}, the draft in the path", field="body.draft_id")
    if env.body.decision != decision:
        raise InvalidMessage(f"must be {decision!r} on this path", field="body.decision")
    return await submit_signed(core, "request_draft_decision", request, env.body)


@router.post(
    "/request-drafts/{draft_id}/approve",
    status_code=201,
    response_model=RequestDraftPublic,
    responses=_RESPONSES,
)
async def approve(
    draft_id: str, env: Signed[RequestDraftDecisionCreate], core: CoreDep, request: Request
) -> Response:
    """The DSO approves its draft (kind ``request_draft_decision``, ``decision: approve``):
    its session must be OPEN and its gate ahead. Then escrow and POST /requests the draft's
    ``request`` from the same wallet."""
    return await _decide("approve", draft_id, env, core, request)


@router.post(
    "/request-drafts/{draft_id}/reject",
    status_code=201,
    response_model=RequestDraftPublic,
    responses=_RESPONSES,
)
async def reject(
    draft_id: str, env: Signed[RequestDraftDecisionCreate], core: CoreDep, request: Request
) -> Response:
    """The DSO rejects its draft (``decision: reject``); the gateway drafts it no more."""
    return await _decide("reject", draft_id, env, core, request)
