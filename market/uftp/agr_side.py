"""flexmarket as the DSO towards UFTP aggregators.

An AGR with a portfolio at a congestion point gets the market's FlexRequests there; its
DPrognosis and FlexOffers become market prognoses and offers of its bound market address,
committed on-chain with the AGR's earlier offers of the session (a new commitment replaces the
old root), each submitted with the AGR's Ed25519-signed message as its proof (the market
publishes it in the session's ``uftp`` bundle; the journal keeps it too). After clearing it gets
a FlexOrder per order (its FlexOrderResponse=Accepted acknowledges the order's dispatch), and
once the session is final, a FlexSettlement whose prices are the on-chain payouts.
"""

from __future__ import annotations

from base64 import b64encode
from functools import partial
from typing import Any

from shapeshifter_uftp.uftp import (
    DPrognosis as UftpPrognosis,
)
from shapeshifter_uftp.uftp import (
    FlexOffer as UftpOffer,
)
from shapeshifter_uftp.uftp import (
    FlexOrderResponse,
)

from clearing.messages import BaselineIsp, DPrognosis, FlexOffer, FlexOrder, FlexRequest
from market.agents.common import as_message
from market.participant.participant import CLEARED_STATES
from market.uftp.config import Peer
from market.uftp.context import GatewayContext, send_once
from market.uftp.convert import (
    ConvertError,
    from_uftp_offer,
    message_uuid,
    to_uftp_order,
    to_uftp_request,
)
from market.uftp.envelope import Opened, Rejection
from market.uftp.proof import SCHEME, OfferProof
from market.uftp.settlement import settle

# ---- inbound -----------------------------------------------------------------------------------


def _requested(ctx: GatewayContext, peer: Peer, request_message_id: str | None) -> tuple[str, str]:
    """(session id, request id) of the FlexRequest the gateway sent this AGR."""
    if request_message_id is None:
        raise Rejection("Unknown Reference: unsolicited offers are not taken; answer a FlexRequest")
    sent = ctx.journal.sent_by_message(request_message_id)
    if sent is None or sent[0] != peer.domain:
        raise Rejection(f"Unknown Reference: FlexRequest {request_message_id}")
    return sent[1], sent[2]


def _open_session(ctx: GatewayContext, session_id: str) -> dict[str, Any]:
    row = ctx.reader.session(session_id)
    if row["state"] != "OPEN":
        raise Rejection(f"Reference Message Expired: session {session_id} is {row['state']}")
    return row


def take_offer(ctx: GatewayContext, opened: Opened) -> None:
    """An AGR's FlexOffer: commit it (with the AGR's earlier ones) and submit it."""
    msg = opened.payload
    assert isinstance(msg, UftpOffer)
    peer = opened.peer
    session_id, request_id = _requested(ctx, peer, msg.flex_request_message_id)
    row = _open_session(ctx, session_id)
    request = next(
        (
            as_message(FlexRequest, r)
            for r in ctx.reader.requests(session_id)
            if as_message(FlexRequest, r).request_id == request_id
        ),
        None,
    )
    if request is None:
        raise Rejection(f"Unknown Reference: request {request_id} is no longer published")
    if ctx.cfg.congestion_points.get(str(msg.congestion_point)) != request.congestion_point:
        raise Rejection(f"Invalid Congestion Point: {msg.congestion_point}")
    participant = ctx.participant(peer)
    offer = from_uftp_offer(msg, window=ctx.window(row), fsp=participant.address, request=request)
    earlier = [
        FlexOffer.model_validate(o["offer"]) for o in ctx.journal.offers(session_id, offer.fsp)
    ]
    participant.commit_offers([*earlier, offer])
    proof = OfferProof(
        scheme=SCHEME,
        sender_domain=peer.domain,
        public_key=peer.public_key,
        binding_signature=peer.binding_signature,
        message_id=str(msg.message_id),
        sealed_b64=b64encode(opened.sealed).decode(),
    )
    try:
        participant.post_offers([offer], proofs={offer.offer_id: proof.model_dump(mode="json")})
    except Exception:
        # the market excludes an FSP whose stored offers miss its root: put the old root back
        if earlier:
            participant.commit_offers(earlier)
        raise
    ctx.journal.add_offer(
        offer=offer.model_dump(mode="json"),
        sender=peer.domain,
        public_key=peer.public_key,
        message_id=str(msg.message_id),
        sealed=opened.sealed,
    )
    ctx.log(
        {
            "event": "offer",
            "from": peer.domain,
            "session_id": session_id,
            "offer_id": offer.offer_id,
        }
    )


def take_prognosis(ctx: GatewayContext, opened: Opened) -> None:
    """An AGR's D-Prognosis for a session it was asked in (matched by period and point)."""
    msg = opened.payload
    assert isinstance(msg, UftpPrognosis)
    peer = opened.peer
    point = ctx.cfg.congestion_points.get(str(msg.congestion_point))
    if point is None or msg.congestion_point not in peer.congestion_points:
        raise Rejection(f"Invalid Congestion Point: {msg.congestion_point}")
    for session_id in ctx.journal.sessions_sent_to(peer.domain):
        row = ctx.reader.session(session_id)
        window = ctx.window(row)
        try:
            same_day = row["state"] == "OPEN" and window.period() == str(msg.period)
        except ConvertError:
            continue
        if same_day:
            break
    else:
        raise Rejection(
            f"Period Out Of Bounds: no open session asked {peer.domain} for {msg.period}"
        )
    powers: dict[int, int] = {}
    for isp in msg.isps:
        for k in range(isp.duration):
            start = isp.start + k
            if window.uftp_start(0) <= start < window.uftp_start(0) + window.n_isps:
                powers[window.market_index(msg.period, start)] = isp.power
    if not powers:
        raise Rejection("ISPs Out Of Bounds: no ISP of the prognosis is in the session")
    participant = ctx.participant(peer)
    prognosis = DPrognosis(
        prognosis_id=message_uuid(peer.domain, str(msg.message_id), "prognosis"),
        session_id=session_id,
        fsp=participant.address,
        congestion_point=point,
        isps=tuple(BaselineIsp(isp_index=k, power_w=v) for k, v in sorted(powers.items())),
    )
    participant.post_prognosis(prognosis)
    ctx.log({"event": "prognosis", "from": peer.domain, "session_id": session_id})


def take_order_response(ctx: GatewayContext, opened: Opened) -> None:
    """Accepted: the AGR takes over dispatch of the order (the market's dispatch ack)."""
    msg = opened.payload
    assert isinstance(msg, FlexOrderResponse)
    sent = ctx.journal.sent_by_message(msg.flex_order_message_id)
    if sent is None or sent[0] != opened.peer.domain:
        raise Rejection(f"Unknown Reference: FlexOrder {msg.flex_order_message_id}")
    _, session_id, order_id = sent
    ctx.log({"event": "order_response", "order_id": order_id, "result": str(msg.result)})
    if str(msg.result) == "Accepted":
        ctx.participant(opened.peer).client.ack_dispatch(session_id, [order_id])


# ---- outbound ----------------------------------------------------------------------------------


def push_requests(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """Each published request of an open session to each AGR with a portfolio at its point."""
    window = ctx.window(row)
    for r in ctx.reader.requests(window.session_id):
        req = as_message(FlexRequest, r)
        point = ctx.cfg.uftp_point(req.congestion_point)
        for peer in ctx.peers("AGR"):
            if point is None or point not in peer.congestion_points:
                continue
            send_once(
                ctx,
                peer,
                f"request:{peer.domain}:{req.request_id}",
                window.session_id,
                req.request_id,
                partial(to_uftp_request, req, window, point),
            )


def push_orders(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """Each cleared order of an AGR's market address as a FlexOrder."""
    window = ctx.window(row)
    for peer in ctx.peers("AGR"):
        for r in ctx.reader.orders(window.session_id, peer.address):
            order = as_message(FlexOrder, r)
            point = ctx.cfg.uftp_point(order.congestion_point) or order.congestion_point
            send_once(
                ctx,
                peer,
                f"order:{order.order_id}",
                window.session_id,
                order.order_id,
                partial(
                    to_uftp_order, order, window, point, ctx.journal.offer_message(order.offer_id)
                ),
            )


def push_settlements(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """A final session's FlexSettlement to each AGR that had orders in it."""
    window = ctx.window(row)
    sid = window.session_id
    for peer in ctx.peers("AGR"):
        key = f"settlement:{peer.domain}:{sid}"
        if ctx.journal.was_sent(key):
            continue
        orders = [as_message(FlexOrder, r) for r in ctx.reader.orders(sid, peer.address)]
        if not orders:
            continue
        statements = ctx.participant(peer).settlements(sid)
        send_once(ctx, peer, key, sid, sid, partial(settle, ctx, orders, window, statements))


def push(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """The AGR side of one pass over one session."""
    state = str(row["state"])
    if state == "OPEN":
        push_requests(ctx, row)
    elif state in CLEARED_STATES:
        push_orders(ctx, row)
        if state == "FINAL":
            push_settlements(ctx, row)
