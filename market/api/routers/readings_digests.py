"""CPO readings digests: a station's CPO vouches, per station and ISP, for the readings it got.

Why a route: under terms with ``readings_digests_required`` the meter oracle attests only
after the stations' CPOs signed digests of the readings they received (count and Merkle root,
``clearing/readings_digest.py``).  The CPO sends them here; the lifecycle worker's verify step
reads them from the store (``market/readings_digests.py``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from market.api.deps import CoreDep
from market.api.routers._settlement_auth import verified_envelope
from market.api.routers._write import WRITE_RESPONSES
from market.api.schemas import Signed
from market.errors import Conflict, InvalidMessage
from market.readings_digests import check_digests, check_open, load_digests, save_digests
from market.store.models.readings_digest import ReadingsDigestsAccepted, ReadingsDigestsCreate

router = APIRouter(tags=["metering"])


@router.post(
    "/sessions/{session_id}/readings-digests",
    status_code=201,
    response_model=ReadingsDigestsAccepted,
    responses={
        200: {"model": ReadingsDigestsAccepted, "description": "Replayed"},
        **WRITE_RESPONSES,
    },
)
async def post_digests(
    session_id: str, env: Signed[ReadingsDigestsCreate], core: CoreDep, request: Request
) -> Response:
    """Post readings digests (kind ``readings_digests``; CPO), each signed (EIP-191) by the
    CPO that registered the station's meter key, for this session, chain and market.
    Refused: another role (403 role-required), a station another CPO registered (403
    station-not-registered-by-signer), a digest for another session or deployment, badly
    signed or listed twice (422), after the delivery is attested or the digests committed
    (409 wrong-session-state), a different digest for a stored station and ISP (409
    duplicate-digest).  The same digests again: 200 and nothing changes."""
    raw, signer = await verified_envelope(core, request, kind="readings_digests", roles={"CPO"})
    body = env.body
    if body.session_id != session_id:
        raise InvalidMessage("must equal the session in the path", field="body.session_id")
    ledger = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise Conflict("readings digests need the chain: no ledger configured", field="session_id")
    await run_in_threadpool(check_open, ledger, session_id)
    await run_in_threadpool(check_digests, ledger, session_id, signer, body.digests)
    saved = await run_in_threadpool(
        lambda: save_digests(
            core.engine,
            session_id=session_id,
            cpo=signer,
            message_id=raw["message_id"],
            digests=body.digests,
            at=int(core.clock.now()),
        )
    )
    answer = ReadingsDigestsAccepted(
        message_id=raw["message_id"],
        session_id=session_id,
        cpo=signer,
        stored=saved.stored,
        unchanged=saved.unchanged,
    )
    replay = saved.stored == 0
    return Response(
        content=json.dumps(answer.model_dump()),
        status_code=200 if replay else 201,
        media_type="application/json",
        headers={"Idempotent-Replay": "true"} if replay else None,
    )


@router.get("/sessions/{session_id}/readings-digests")
def list_digests(session_id: str, core: CoreDep) -> list[dict[str, object]]:
    """The digests the CPOs sent for a session (public: the oracle publishes them anyway)."""
    return [d.model_dump(mode="json") for d in load_digests(core.engine, session_id)]
