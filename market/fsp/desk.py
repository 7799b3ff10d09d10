"""The FSP's fleet desk (``/desk``): what the gateway's operator watches, read-only.

Stations with their live OCPP status, the fleet with the EV users' bookings, the envelope per
ISP of the next session (what the fleet model can offer: :meth:`FspAgent.envelope`), the
offers the gateway made and their state, and the orders with their dispatch per station.

Why a separate token: the desk shows every EV user's preferences, which the EV-user tokens must
not reach. The operator token comes from the environment variable ``ev_api.desk_token_env``
names (no default: without it the desk answers 404 and the page says how to enable it), is at
least 32 characters, and is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header
from fastapi.responses import FileResponse

from market.errors import FlexMarketError, NotFound
from market.fsp.consent import Purpose
from market.web.pages import CSP

if TYPE_CHECKING:
    from market.fsp.gateway import FspGateway

MIN_TOKEN_CHARS = 32
FINISHED = ("FINAL", "CANCELLED")


class DeskUnauthenticated(FlexMarketError):
    """The request carries no valid operator token."""

    status = 401
    slug = "unauthenticated"


def _stations(gw: FspGateway) -> list[dict[str, Any]]:
    """Each configured station: connected, last heartbeat, its EVSEs' status, transaction and
    latest reading."""
    states = gw.evse_states()
    out = []
    for sid, station in sorted(gw.cfg.csms.stations.items()):
        session = gw.csms.sessions.get(sid)
        evses = []
        for evse in station.evses:
            known = session.evses.get(evse.evse_id) if session is not None else None
            state = states.get((sid, evse.evse_id))
            last = state.last if state is not None else None
            evses.append(
                {
                    "evse_id": evse.evse_id,
                    "congestion_point": evse.congestion_point,
                    "status": known.status if known is not None else None,
                    "transaction_id": (
                        None
                        if known is None or known.transaction_id is None
                        else str(known.transaction_id)
                    ),
                    "plugged": bool(state and state.plugged),
                    "last_reading_unix": last.timestamp if last else None,
                    "power_w": last.power_w if last else None,
                    "import_wh": last.import_wh if last else None,
                    "soc_pct": last.soc_pct if last else None,
                }
            )
        out.append(
            {
                "station_id": sid,
                "connected": bool(session and session.connected),
                "protocol": session.protocol if session is not None else None,
                "connects": session.connects if session is not None else 0,
                "last_heartbeat_unix": session.last_heartbeat_unix if session is not None else None,
                "evses": evses,
            }
        )
    return out


def _bookings(gw: FspGateway) -> list[dict[str, Any]]:
    """The EV users with their EVSE, consent and preferences (departure, minimum SoC)."""
    prefs = gw.store.all_preferences()
    consenting = gw.ev.consenting(Purpose.FLEXIBILITY_BIDDING)
    return [
        {
            "user_id": uid,
            "station_id": user.station,
            "evse_id": user.evse_id,
            "consent": uid in consenting,
            "opt_in": bool(prefs.get(uid, {}).get("opt_in", True)),
            "bid": uid in consenting and bool(prefs.get(uid, {}).get("opt_in", True)),
            "departure_unix": prefs.get(uid, {}).get("departure_unix"),
            "min_soc_pct": int(prefs.get(uid, {}).get("min_soc_pct") or 0),
            "min_price_per_mwh": int(prefs.get(uid, {}).get("min_price_per_mwh") or 0),
        }
        for uid, user in sorted(gw.cfg.ev_users.items())
    ]


def next_campaign(campaigns: list[dict[str, Any]], now: int) -> dict[str, Any] | None:
    """The session to plan for: the earliest unfinished one whose delivery has not ended."""
    live = [c for c in campaigns if c["state"] not in FINISHED and c["delivery_end"] > now]
    return min(live, key=lambda c: (c["delivery_start"], c["session_id"])) if live else None


def _envelope(gw: FspGateway, campaign: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fleet model's UP/DOWN envelope per congestion point and ISP of that session."""
    if campaign is None:
        return None
    row = {**campaign, "id": campaign["session_id"]}
    agent = gw.agent(row)
    points = sorted({ev.congestion_point for ev in agent.evs})
    envelopes = []
    for cp in points:
        env = agent.envelope(cp)
        envelopes.append(
            {
                "congestion_point": cp,
                "isps": [
                    {"isp_index": i, "up_w": env.up_w.get(i, 0), "down_w": env.down_w.get(i, 0)}
                    for i in sorted(set(env.up_w) | set(env.down_w))
                ],
            }
        )
    return {**campaign, "evs": len(agent.evs), "envelopes": envelopes}


def _trading(gw: FspGateway) -> list[dict[str, Any]]:
    """Per session the gateway saw: its offers and their state, its orders with dispatch."""
    out = []
    for sid, state in sorted(gw.store.session_states().items()):
        record = gw.store.offer_record(sid)
        dispatched = gw.store.dispatched(sid)
        orders = [
            {
                "order_id": o["order_id"],
                "congestion_point": o["body"]["congestion_point"],
                "direction": o["body"]["direction"],
                "power_w": max((i["power_w"] for i in o["body"]["isps"]), default=0),
                "price_per_mwh": o["body"]["price_per_mwh"],
                "verified": o["verified"],
                "reason": o["reason"],
                "acked": o["acked"],
                "dispatch": {
                    station: st
                    for (oid, station), st in sorted(dispatched.items())
                    if oid == o["order_id"]
                },
            }
            for o in gw.store.orders_of(sid)
        ]
        if record is None and not orders:
            continue
        offers = [
            {
                "offer_id": b["offer_id"],
                "congestion_point": b["congestion_point"],
                "direction": b["direction"],
                "options": len(b["options"]),
            }
            for b in (record or {}).get("offers", [])
        ]
        out.append(
            {
                "session_id": sid,
                "state": state,
                "offers_status": record["status"] if record else None,
                "offers_root": record["root"] if record else None,
                "offers": offers,
                "orders": orders,
            }
        )
    return out


def desk_state(gw: FspGateway) -> dict[str, Any]:
    """Everything the desk shows, in one read (integers, Unix seconds)."""
    now = int(gw.now())
    return {
        "fsp": gw.participant.address,
        "now": now,
        "stations": _stations(gw),
        "bookings": _bookings(gw),
        "next_session": _envelope(gw, next_campaign(gw.ev.campaigns(), now)),
        "sessions": _trading(gw),
    }


def _page() -> FileResponse:
    from market.fsp.ev_page import WEB_DIR

    return FileResponse(
        WEB_DIR / "desk.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def install(app: FastAPI, state: Callable[[], dict[str, Any]], token: str | None) -> None:
    """``/desk`` (the page) and ``GET /desk/state`` (operator token; 404 when not enabled)."""
    router = APIRouter(tags=["desk"])
    app.add_api_route("/desk", _page, methods=["GET"], include_in_schema=False)

    def operator(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            raise NotFound(
                "the fleet desk is not enabled: set ev_api.desk_token_env in fsp.yaml and "
                "that environment variable to a token of at least 32 characters",
                field="ev_api.desk_token_env",
            )
        auth = authorization or ""
        given = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or not hmac.compare_digest(
            given.encode(), token.encode()
        ):
            raise DeskUnauthenticated(
                "send Authorization: Bearer <the FSP's operator token>", field="authorization"
            )

    @router.get(
        "/desk/state",
        dependencies=[Depends(operator)],
        responses={
            401: {"description": "no or a wrong operator token (problem+json)"},
            404: {"description": "the desk is not enabled (problem+json)"},
        },
    )
    def get_state() -> dict[str, Any]:
        """The fleet desk: stations, bookings, next session's envelope, offers, orders."""
        return state()

    app.include_router(router)
