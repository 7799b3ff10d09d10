"""flexmarket as the aggregator towards UFTP DSOs.

A DSO's FlexRequest joins the open session of its day that holds its ISPs: the request is
escrowed from the DSO's market account (its UFTP key is bound to that address) on the terms it
was onboarded with, and published (the escrow is cancelled if the market refuses it). After
clearing the DSO gets, per order on its requests, the cleared offer as a FlexOffer (the
activated powers at the cleared price); it orders them with FlexOrder (answered Accepted when
the order is the market's cleared one). Once final, it gets a FlexSettlement whose lines carry
the on-chain payout and the paying transaction.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from shapeshifter_uftp.uftp import (
    FlexOrder as UftpOrder,
)
from shapeshifter_uftp.uftp import (
    FlexRequest as UftpRequest,
)

from clearing.encoding import uuid_to_bytes32
from clearing.messages import FlexOffer, FlexOfferOption, FlexOrder, FlexRequest
from market.agents.common import as_message
from market.participant.errors import ParticipantError
from market.participant.onchain import onchain
from market.participant.participant import CLEARED_STATES, Participant
from market.uftp.config import Peer
from market.uftp.context import GatewayContext, send_once
from market.uftp.convert import ConvertError, from_uftp_request, to_uftp_offer, to_uftp_order
from market.uftp.envelope import Opened, Rejection
from market.uftp.settlement import settle

REQUEST = "dso-request"


def _as_market_request(ctx: GatewayContext, msg: UftpRequest, peer: Peer) -> FlexRequest:
    """The request in the open session of the message's day that holds all its ISPs."""
    point = ctx.cfg.congestion_points.get(str(msg.congestion_point))
    if point is None:
        raise Rejection(f"Invalid Congestion Point: {msg.congestion_point}")
    if peer.terms is None:  # checked when the config is read
        raise Rejection("Unauthorized: no request terms for this DSO")
    refusal: ConvertError | None = None
    for row in ctx.reader.sessions(state="OPEN"):
        try:
            return from_uftp_request(
                msg,
                window=ctx.window(row),
                market_point=point,
                max_price_per_mwh=peer.terms.max_price_per_mwh,
                budget_units=peer.terms.budget_units,
                all_or_nothing=peer.terms.all_or_nothing,
            )
        except ConvertError as exc:
            refusal = exc if exc.reason != "Period Out Of Bounds" else refusal
    if refusal is not None:
        raise refusal
    raise Rejection(f"Period Out Of Bounds: no open session for {msg.period}")


def take_request(ctx: GatewayContext, opened: Opened) -> None:
    """A DSO's FlexRequest: escrow its budget from the DSO's account and publish it."""
    msg = opened.payload
    assert isinstance(msg, UftpRequest)
    peer = opened.peer
    request = _as_market_request(ctx, msg, peer)
    participant = ctx.participant(peer)
    try:
        participant.post_request(request)
    except ParticipantError as exc:
        _undo_escrow(participant, request.request_id, exc)
        raise
    ctx.journal.sent(
        f"{REQUEST}:{request.request_id}",
        str(msg.message_id),
        peer.domain,
        request.session_id,
        request.request_id,
    )
    ctx.log(
        {
            "event": "request",
            "from": peer.domain,
            "session_id": request.session_id,
            "request_id": request.request_id,
            "budget_units": request.budget_units,
        }
    )


def _undo_escrow(participant: Participant, request_id: str, exc: ParticipantError) -> None:
    """The market refused to publish an escrowed request: refund the escrow (to the DSO's
    withdrawable credit), so a rejected FlexRequest leaves no budget locked."""
    if exc.field.startswith("request.") or exc.field == "request":
        with onchain("cancel request"):
            held = participant.chain.market.request(uuid_to_bytes32(request_id))
            if held.dso.lower() == participant.address and not held.cancelled:
                participant.chain.market.cancel_request(
                    uuid_to_bytes32(request_id), sender=participant.address
                )


def take_order(ctx: GatewayContext, opened: Opened) -> None:
    """A DSO's FlexOrder for a cleared offer it was sent: accepted when it is that order."""
    msg = opened.payload
    assert isinstance(msg, UftpOrder)
    sent = ctx.journal.sent_by_message(str(msg.flex_offer_message_id))
    if sent is None or sent[0] != opened.peer.domain:
        raise Rejection(f"Unknown Reference: FlexOffer {msg.flex_offer_message_id}")
    _, session_id, order_id = sent
    orders = {o["order_id"]: as_message(FlexOrder, o) for o in ctx.reader.orders(session_id)}
    if order_id not in orders:
        raise Rejection(f"Unknown Reference: order {order_id}")
    window = ctx.window(ctx.reader.session(session_id))
    cleared = to_uftp_order(orders[order_id], window, str(msg.congestion_point), None)
    ordered = sorted((i.start, i.duration, i.power) for i in msg.isps)
    if ordered != sorted((i.start, i.duration, i.power) for i in cleared.isps):
        raise Rejection("ISP Conflict: the ISPs differ from the FlexOffer's")
    ctx.log({"event": "dso_order", "from": opened.peer.domain, "order_id": order_id})


def cleared_offer(order: FlexOrder, expires_at: int) -> FlexOffer:
    """An order as the offer that cleared: its activated powers at the cleared price."""
    return FlexOffer(
        offer_id=order.offer_id,
        session_id=order.session_id,
        fsp=order.fsp,
        request_id=order.request_id,
        congestion_point=order.congestion_point,
        direction=order.direction,
        expires_at=expires_at,
        options=(
            FlexOfferOption(
                option_ref=order.option_ref,
                isps=order.isps,
                price_per_mwh=order.price_per_mwh,
                min_activation_ppm=1_000_000,
            ),
        ),
    )


def _requests_of(ctx: GatewayContext, domain: str, session_id: str) -> dict[str, str]:
    """request id -> the DSO's FlexRequest MessageID, for this DSO's requests in a session."""
    return ctx.journal.refs(domain, session_id, REQUEST + ":")


def push(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """The DSO side of one pass over one session: cleared offers, then the settlement."""
    state = str(row["state"])
    if state not in CLEARED_STATES:
        return
    window = ctx.window(row)
    sid = window.session_id
    points = {code: uftp for uftp, code in ctx.cfg.congestion_points.items()}
    for peer in ctx.peers("DSO"):
        mine = _requests_of(ctx, peer.domain, sid)
        if not mine:
            continue
        every = [as_message(FlexOrder, r) for r in ctx.reader.orders(sid)]
        orders = [o for o in every if o.request_id in mine]
        for o in orders:
            point = points.get(o.congestion_point, o.congestion_point)
            send_once(
                ctx,
                peer,
                f"dso-offer:{o.order_id}",
                sid,
                o.order_id,
                partial(
                    to_uftp_offer,
                    cleared_offer(o, window.gate_closure),
                    window,
                    point,
                    mine[o.request_id],
                ),
            )
        if state == "FINAL" and orders:
            send_once(
                ctx,
                peer,
                f"dso-settlement:{peer.domain}:{sid}",
                sid,
                sid,
                partial(settle, ctx, orders, window),
            )
