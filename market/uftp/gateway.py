"""The UFTP gateway: one Shapeshifter endpoint for both roles, and the outbound pass.

Why synchronous handling: the market steps a message causes (an escrow, an offer commitment)
are done before the HTTP answer, so a message that is refused changes nothing and one that is
accepted is in the market when its sender hears 200; the UFTP ``*Response`` (Accepted or
Rejected with the reason) follows asynchronously, as the specification has it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from shapeshifter_uftp.uftp import (
    AcceptedRejected,
    FlexOrderResponse,
    PayloadMessage,
    TestMessage,
    TestMessageResponse,
    request_response_map,
)
from shapeshifter_uftp.uftp import (
    DPrognosis as UftpPrognosis,
)
from shapeshifter_uftp.uftp import (
    FlexOffer as UftpOffer,
)
from shapeshifter_uftp.uftp import (
    FlexOrder as UftpOrder,
)
from shapeshifter_uftp.uftp import (
    FlexRequest as UftpRequest,
)

from market.client import ApiError
from market.participant.errors import ParticipantError
from market.uftp import agr_side, dso_side
from market.uftp.context import GatewayContext
from market.uftp.convert import ConvertError
from market.uftp.envelope import Opened, Rejection, TransportRefusal, check_opened, open_message

PATH = "/shapeshifter/api/v3/message"
Handler = Callable[[GatewayContext, Opened], None]

#: (sender role, message type) -> what the market does with it; other types are only noted
HANDLERS: dict[tuple[str, type], Handler] = {
    ("AGR", UftpOffer): agr_side.take_offer,
    ("AGR", UftpPrognosis): agr_side.take_prognosis,
    ("AGR", FlexOrderResponse): agr_side.take_order_response,
    ("DSO", UftpRequest): dso_side.take_request,
    ("DSO", UftpOrder): dso_side.take_order,
}
#: UFTP messages the market has no step for, and why (the sender gets this as the reason)
UNSUPPORTED = {
    "FlexOfferRevocation": (
        "Invalid Message: the market has no offer withdrawal; an offer lapses at gate closure"
    ),
    "Metering": (
        "Invalid Message: delivery is measured from station-signed meter readings, not Metering"
    ),
    "FlexReservationUpdate": "Invalid Message: the market has no bilateral reservations",
}
#: answers from peers that the gateway records (they need no market step)
NOTED = frozenset(
    {
        "FlexRequestResponse",
        "FlexSettlementResponse",
        "DPrognosisResponse",
        "FlexOfferResponse",
        "FlexOrderResponse",
        "TestMessageResponse",
    }
)


def _snake(name: str) -> str:
    return re.sub(r"(.)([A-Z][a-z])", r"\1_\2", name).lower()


def response_to(msg: PayloadMessage, reason: str | None) -> PayloadMessage | None:
    """The UFTP answer to ``msg``: Accepted, or Rejected with ``reason`` (None if it has none)."""
    if isinstance(msg, TestMessage):
        return TestMessageResponse(conversation_id=msg.conversation_id)
    kind = request_response_map.get(type(msg))
    if kind is None:
        return None
    fields: dict[str, Any] = {
        "conversation_id": msg.conversation_id,
        "result": AcceptedRejected.REJECTED if reason else AcceptedRejected.ACCEPTED,
        "rejection_reason": reason,
        _snake(type(msg).__name__) + "_message_id": msg.message_id,
    }
    return kind(**fields)


@dataclass(frozen=True)
class Outcome:
    """What the endpoint answers (HTTP) and the UFTP answer to send afterwards."""

    status: int
    detail: str
    reply: Callable[[], None] | None = None


class UftpGateway:
    """Receives and verifies UFTP messages, acts in the market, and pushes what peers need."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()  # one message acts on the market at a time

    def _answer(self, opened: Opened, reason: str | None) -> Callable[[], None] | None:
        answer = response_to(opened.payload, reason)
        if answer is None:
            return None

        def send() -> None:
            try:
                self.ctx.send(opened.peer, answer)
            except Exception as exc:
                event = {"event": "reply_failed", "to": opened.peer.domain, "reason": str(exc)}
                self.ctx.log(event)

        return send

    def _act(self, opened: Opened) -> str | None:
        """Run the market step for a trusted message; the rejection reason, or None."""
        msg = opened.payload
        try:
            check_opened(opened, self.ctx.cfg, self.ctx.now())
            handler = HANDLERS.get((opened.peer.role, type(msg)))
            if handler is not None:
                handler(self.ctx, opened)
            elif type(msg).__name__ in UNSUPPORTED:
                raise Rejection(UNSUPPORTED[type(msg).__name__])
            elif type(msg).__name__ not in NOTED and not isinstance(msg, TestMessage):
                raise Rejection(f"Invalid Message: '{type(msg).__name__}'")
        except Rejection as exc:
            return exc.reason
        except ConvertError as exc:
            return f"{exc.reason}: {exc.detail}"
        except ParticipantError as exc:
            return f"Invalid Message: {exc.field}: {exc.reason}"
        except ApiError as exc:
            return f"Invalid Message: {exc}"
        return None

    def receive(self, body: bytes) -> Outcome:
        """One POSTed SignedMessage."""
        try:
            opened = open_message(body, self.ctx.cfg)
        except TransportRefusal as exc:
            self.ctx.log({"event": "refused", "status": exc.status, "reason": exc.detail})
            return Outcome(exc.status, exc.detail)
        msg = opened.payload
        sender, message_id = opened.peer.domain, str(msg.message_id)
        kind = type(msg).__name__
        with self._lock:
            seen = self.ctx.journal.seen(sender, message_id, opened.sealed)
            if seen is not None and not seen.same:
                reason: str | None = "Duplicate Identifier"
            elif seen is not None:
                reason = seen.reason  # a re-send: the first answer again, nothing done
            else:
                reason = self._act(opened)
                result = "Rejected" if reason else "Accepted"
                self.ctx.journal.received(sender, message_id, kind, opened.sealed, result, reason)
        self.ctx.log(
            {
                "event": "received",
                "from": sender,
                "kind": kind,
                "message_id": message_id,
                "result": "Rejected" if reason else "Accepted",
                "reason": reason,
                "resent": seen is not None,
            }
        )
        return Outcome(200, reason or "Accepted", self._answer(opened, reason))

    def evidence(self, session_id: str) -> dict[str, Any]:
        """A session's kept AGR offers, each with its signed message and key binding."""
        items = []
        for item in self.ctx.journal.offers(session_id):
            peer = self.ctx.cfg.peer(str(item["sender_domain"]), "AGR")
            binding = peer.binding_signature if peer is not None else ""
            items.append({**item, "binding_signature": binding})
        return {"session_id": session_id, "time_zone": self.ctx.cfg.time_zone, "items": items}

    def run_once(self) -> None:
        """One outbound pass over the market's sessions (requests, orders, settlements)."""
        # not under the message lock: a peer that answered within our POST would wait on it
        for row in self.ctx.reader.sessions():
            try:
                agr_side.push(self.ctx, row)
                dso_side.push(self.ctx, row)
            except Exception as exc:  # logged; the next pass retries what was not sent
                sid = row.get("id")
                self.ctx.log({"event": "pass_failed", "session_id": sid, "reason": str(exc)})


def create_app(gateway: UftpGateway) -> FastAPI:
    """The HTTP side: the UFTP message endpoint and the per-session offer evidence."""
    app = FastAPI(title="flexmarket UFTP gateway", version="1")

    @app.post(PATH)
    async def message(request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        outcome = await run_in_threadpool(gateway.receive, body)
        if outcome.reply is not None:
            background.add_task(outcome.reply)
        if outcome.status != 200:
            return Response(outcome.detail, status_code=outcome.status, media_type="text/plain")
        return Response(status_code=200)

    @app.get("/sessions/{session_id}/evidence")
    def evidence(session_id: str) -> JSONResponse:
        """The AGRs' signed FlexOffers behind the market offers committed for them (what
        ``flexmarket audit --uftp-evidence`` verifies)."""
        return JSONResponse(gateway.evidence(session_id))

    return app
