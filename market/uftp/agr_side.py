"""flexmarket as the DSO towards UFTP aggregators.

An AGR with a portfolio at a congestion point gets the market's FlexRequests there; its
DPrognosis and FlexOffers become market prognoses and offers of its bound market address,
committed on-chain with the AGR's earlier offers of the session (a new commitment replaces the
old root), each kept with the AGR's Ed25519-signed message as the proof. After clearing it gets
a FlexOrder per order (its FlexOrderResponse=Accepted acknowledges the order's dispatch), and
once the session is final, a FlexSettlement whose prices are the on-chain payouts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shapeshifter_uftp.uftp import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    FlexOrderResponse,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexSettlement,
)
from shapeshifter_uftp.uftp import (
    DPrognosis as UftpPrognosis,
)
from shapeshifter_uftp.uftp import (
    FlexOffer as UftpOffer,
)

from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import BaselineIsp, DPrognosis, FlexOffer, FlexOrder, FlexRequest
from market.agents.common import as_message
from market.participant.participant import CLEARED_STATES
from market.uftp.config import Peer
from market.uftp.context import GatewayContext, out_id
from market.uftp.convert import (
    ConvertError,
    Window,
    from_uftp_offer,
    message_uuid,
    to_uftp_order,
    to_uftp_request,
)
from market.uftp.envelope import Opened, Rejection

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
    try:
        participant.post_offers([offer])
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


def send_once(
    ctx: GatewayContext, peer: Peer, key: str, session_id: str, ref: str, build: Any
) -> None:
    if ctx.journal.was_sent(key):
        return
    try:
        message = build()
    except ConvertError as exc:
        ctx.log({"event": "skipped", "to": peer.domain, "key": key, "reason": str(exc)})
        return
    message.message_id = out_id(key)
    message.conversation_id = message.conversation_id or out_id(key, "conversation")
    # recorded first: the peer may answer before the POST returns; undone if it fails
    ctx.journal.sent(key, str(message.message_id), peer.domain, session_id, ref)
    try:
        ctx.send(peer, message)
    except Exception:
        ctx.journal.unsend(key)
        raise


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
                lambda req=req, point=point: to_uftp_request(req, window, point),
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
                lambda order=order, point=point: to_uftp_order(
                    order, window, point, ctx.journal.offer_message(order.offer_id)
                ),
            )


def order_payouts(orders: list[FlexOrder], reservations: list[dict[str, Any]]) -> dict[str, int]:
    """Each order's share of the on-chain payouts: its (request, FSP) reservation's payout,
    split by payment cap when several orders share one (remainder to the last), so the
    shares add up to the payouts exactly."""
    paid = {(str(r["request_id"]), str(r["fsp"])): int(r["payout_units"]) for r in reservations}
    groups: dict[tuple[str, str], list[FlexOrder]] = {}
    for o in orders:
        groups.setdefault((hex32(uuid_to_bytes32(o.request_id)), o.fsp), []).append(o)
    out: dict[str, int] = {}
    for key, group in groups.items():
        total = paid.get(key, 0)
        caps = sum(o.payment_cap_units for o in group) or 1
        left = total
        for i, o in enumerate(group):
            share = left if i == len(group) - 1 else total * o.payment_cap_units // caps
            out[o.order_id] = share
            left -= share
    return out


def _field(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def onchain_payouts(
    ctx: GatewayContext, session_id: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The session's reservations with their attested payouts, and the transaction that made
    them withdrawable, as the chain has them (``GET /sessions/{id}/evidence`` reads the chain
    at request time)."""
    events = ctx.reader._get_object(f"/sessions/{session_id}/evidence")["events"]
    cleared = [e for e in events if e["event"] == "ClearingPosted"]
    attested = [e for e in events if e["event"] in ("DeliveryAttested", "DisputeResolved")]
    if not cleared or not attested:
        return [], None
    reservations = cleared[-1]["args"]["reservations"]
    payouts = attested[-1]["args"]["payouts"]
    rows = [
        {
            "request_id": str(_field(r, "requestId", 0)).lower(),
            "fsp": str(_field(r, "fsp", 1)).lower(),
            "payout_units": int(p),
        }
        for r, p in zip(reservations, payouts, strict=True)
    ]
    final = [e for e in events if e["event"] == "SessionFinalized"]
    tx = str((final or attested)[-1]["tx_hash"])
    return rows, tx


def settlement_message(
    orders: list[FlexOrder],
    payouts: dict[str, int],
    window: Window,
    points: dict[str, str],
    tx: str | None,
) -> FlexSettlement:
    """The FlexSettlement of orders: Price = NetSettlement = the on-chain payout, ContractID =
    the escrowed request @ the transaction that paid it (``tx``);
    per ISP the ordered power and, apportioned by payout over the order's cap, the delivered
    power (the per-ISP metering detail stays in the market's delivery bundle)."""
    lines = []
    for o in orders:
        paid = payouts.get(o.order_id, 0)
        isps = []
        for i in sorted(o.isps, key=lambda i: i.isp_index):
            sign = -1 if o.direction == "UP" else 1
            delivered = i.power_w * paid // o.payment_cap_units if o.payment_cap_units else 0
            isps.append(
                FlexOrderSettlementISP(
                    start=window.uftp_start(i.isp_index),
                    duration=1,
                    baseline_power=0,
                    ordered_flex_power=sign * i.power_w,
                    actual_power=sign * delivered,
                    delivered_flex_power=sign * delivered,
                    power_deficiency=i.power_w - delivered,
                )
            )
        lines.append(
            FlexOrderSettlement(
                isps=isps,
                order_reference=o.order_id,
                period=window.period(),
                contract_id=f"{o.request_id}@{tx}" if tx else o.request_id,
                congestion_point=points.get(o.congestion_point, o.congestion_point),
                price=Decimal(paid).scaleb(-6),
                penalty=Decimal(0),
                net_settlement=Decimal(paid).scaleb(-6),
            )
        )
    reserved: dict[str, dict[int, int]] = {}
    for o in orders:
        per_isp = reserved.setdefault(o.request_id, {})
        for i in o.isps:
            sign = -1 if o.direction == "UP" else 1
            per_isp[i.isp_index] = per_isp.get(i.isp_index, 0) + sign * i.power_w
    contracts = [
        ContractSettlement(
            contract_id=request_id,
            periods=[
                ContractSettlementPeriod(
                    period=window.period(),
                    isps=[
                        ContractSettlementISP(
                            start=window.uftp_start(k), reserved_power=p, ordered_power=p
                        )
                        for k, p in sorted(per_isp.items())
                    ],
                )
            ],
        )
        for request_id, per_isp in sorted(reserved.items())
    ]
    return FlexSettlement(
        flex_order_settlements=lines,
        contract_settlements=contracts,
        period_start=window.period(),
        period_end=window.period(),
        currency="EUR",
    )


def settle(ctx: GatewayContext, orders: list[FlexOrder], window: Window) -> FlexSettlement:
    """The FlexSettlement of ``orders`` at the chain's payouts."""
    points = {code: uftp for uftp, code in ctx.cfg.congestion_points.items()}
    reservations, tx = onchain_payouts(ctx, window.session_id)
    return settlement_message(orders, order_payouts(orders, reservations), window, points, tx)


def push_settlements(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """A final session's FlexSettlement to each AGR that had orders in it."""
    window = ctx.window(row)
    for peer in ctx.peers("AGR"):
        orders = [
            as_message(FlexOrder, r) for r in ctx.reader.orders(window.session_id, peer.address)
        ]
        if not orders:
            continue
        send_once(
            ctx,
            peer,
            f"settlement:{peer.domain}:{window.session_id}",
            window.session_id,
            window.session_id,
            lambda orders=orders: settle(ctx, orders, window),
        )


def push(ctx: GatewayContext, row: dict[str, Any]) -> None:
    """The AGR side of one pass over one session."""
    state = str(row["state"])
    if state == "OPEN":
        push_requests(ctx, row)
    elif state in CLEARED_STATES:
        push_orders(ctx, row)
        if state == "FINAL":
            push_settlements(ctx, row)
