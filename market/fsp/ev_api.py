"""The FSP gateway's HTTP API: EV users' consent, campaigns, preferences and revenue
statements, the EV-user page (``/ev-user``, :mod:`market.fsp.ev_page`) and the gateway's
``GET /status``.

Consent (GDPR), per purpose (:mod:`market.fsp.consent`): ``GET /consent-text`` says for
each purpose exactly what is shared with whom; each decision is stored per user and purpose
with the gateway's time. Without ``flexibility_bidding`` consent an EV user's EV is never bid
and an opt-in is refused (409, field ``consent``); withdrawing it also opts out of every
campaign, in the same commit.

Authentication: ``Authorization: Bearer <token>``, a per-EV-user token the FSP issues with
``flexmarket fsp token`` (random 256 bits; only its SHA-256 is stored). No token or an unknown
one is 401, another user's resources 403, a malformed body 422; all RFC 9457 problems naming
the field. There is no default token.

``GET /status`` (no token; bind the API to loopback or a private network) answers::

    {"sessions": {"<session id>": "<state seen>", ...},
     "offers_submitted": <sessions whose offers were committed and posted>,
     "orders": {"received": n, "verified": n, "rejected": n, "dispatched": n, "acked": n},
     "outbox": {"pending": n, "sent": n, "refused": n, "unsigned": n, "outside": n},
     "last_reading": {"<station id>": <Unix s of its latest reading>, ...},
     "stations_connected": n, "withdrawn_units": n,
     "sharing_pending": ["<session id whose revenue sharing is still to post>", ...],
     "now": <gateway clock, Unix s>}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field, Strict

from market.api.problems import install
from market.errors import Conflict, FlexMarketError, Forbidden, InvalidMessage, NotFound
from market.fsp import claims as claim_routes
from market.fsp import desk, ev_page
from market.fsp.claims import ClaimDesk
from market.fsp.consent import CONSENT, Purpose
from market.fsp.ev_store import EvUserStore
from market.fsp.store import GatewayStore
from market.fsp.store import preferences as preferences_table


class Unauthenticated(FlexMarketError):
    """The request carries no valid EV-user token."""

    status = 401
    slug = "unauthenticated"


class Preferences(BaseModel):
    """What an EV user tells the FSP (D1.4 UC4.3): ``campaigns`` maps a campaign (market
    session id) to an opt-in that overrides ``opt_in`` for that session."""

    model_config = ConfigDict(strict=True, extra="forbid")

    opt_in: bool = True
    campaigns: dict[Annotated[str, Field(min_length=1, max_length=64)], bool] = {}
    departure_unix: Annotated[int, Field(ge=0)] | None = None
    min_soc_pct: Annotated[int, Field(ge=0, le=100)] = 0
    min_price_per_mwh: Annotated[int, Field(ge=0, le=10**12)] = 0
    arrival_soc_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    battery_wh: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    #: where the user's share is paid; without one the user asks for a claim (POST .../claim)
    wallet_address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None


class ConsentDecision(BaseModel):
    """Give (true) or withdraw (false) consent per purpose, to the text of ``version``;
    purposes not named keep their decision."""

    model_config = ConfigDict(strict=True, extra="forbid")

    purposes: dict[Annotated[Purpose, Strict(False)], bool] = Field(min_length=1)
    version: str = Field(min_length=1, max_length=32)


def _consent_view(decided: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every purpose with the user's latest decision (never asked: given false, at null)."""
    never = {"given": False, "version": None, "at": None}
    return {
        "purposes": {p.value: decided.get(p.value, never) for p in Purpose},
        "current_version": CONSENT["version"],
    }


def _bidding(decided: dict[str, dict[str, Any]]) -> bool:
    return bool(decided.get(Purpose.FLEXIBILITY_BIDDING, {}).get("given"))


def _opted_in(prefs: dict[str, Any]) -> bool:
    return bool(prefs.get("opt_in", True)) or any((prefs.get("campaigns") or {}).values())


def _opt_out_all(user_id: str, prefs: dict[str, Any], campaign_ids: list[str], at: int) -> Any:
    """The preferences write that leaves every campaign (run inside the consent commit)."""
    campaigns = {**(prefs.get("campaigns") or {}), **dict.fromkeys(campaign_ids, False)}
    body = {**Preferences().model_dump(), **prefs, "opt_in": False}
    body["campaigns"] = dict.fromkeys(campaigns, False)

    def write(conn: sa.Connection) -> None:
        conn.execute(preferences_table.delete().where(preferences_table.c.user_id == user_id))
        conn.execute(
            preferences_table.insert().values(
                user_id=user_id, prefs_json=json.dumps(body), updated_at=at
            )
        )

    return write


def ev_user_router(
    store: GatewayStore,
    users: set[str],
    ev: EvUserStore | None = None,
    claims: ClaimDesk | None = None,
) -> APIRouter:
    """``/ev-users/{user_id}/``: ``consent``, ``campaigns``, ``preferences``,
    ``statements`` and (with ``claims``) ``claim`` (:mod:`market.fsp.claims`)."""
    router = APIRouter(prefix="/ev-users", tags=["ev-users"])
    ev = ev if ev is not None else EvUserStore(store.engine, now=lambda: store.now())

    def caller(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthenticated(
                "send Authorization: Bearer <token> (issued by the FSP)", field="authorization"
            )
        user = store.user_of_token(authorization.removeprefix("Bearer ").strip())
        if user is None:
            raise Unauthenticated("unknown or revoked token", field="authorization")
        return user

    def own(user_id: str, who: str) -> None:
        if user_id not in users:
            raise NotFound(f"no EV user {user_id!r}", field="user_id")
        if who != user_id:
            raise Forbidden(f"this token is {who!r}'s, not {user_id!r}'s", field="user_id")

    me = Depends(caller)

    @router.get("/{user_id}/preferences", response_model=Preferences)
    def get_preferences(user_id: str, who: str = me) -> Preferences:
        own(user_id, who)
        return Preferences.model_validate(store.preferences(user_id) or {})

    @router.put("/{user_id}/preferences", response_model=Preferences)
    def put_preferences(user_id: str, body: Preferences, who: str = me) -> Preferences:
        """Opting in (generally or to a campaign) needs bidding consent (409 otherwise)."""
        own(user_id, who)
        if _opted_in(body.model_dump()) and not _bidding(ev.consent(user_id)):
            raise Conflict(
                "opting in needs your consent to flexibility_bidding first "
                "(PUT /ev-users/{user_id}/consent); "
                "set opt_in false and every campaign false to save preferences without it",
                field="consent",
            )
        store.set_preferences(user_id, body.model_dump())
        return body

    @router.get("/{user_id}/consent")
    def get_consent(user_id: str, who: str = me) -> dict[str, Any]:
        """The user's latest decision per purpose (``given`` false, ``at`` null: never
        asked)."""
        own(user_id, who)
        return _consent_view(ev.consent(user_id))

    @router.put("/{user_id}/consent")
    def put_consent(user_id: str, body: ConsentDecision, who: str = me) -> dict[str, Any]:
        """Give or withdraw consent per purpose; withdrawing ``flexibility_bidding`` opts
        out of every campaign (one commit)."""
        own(user_id, who)
        current = CONSENT["version"]
        if any(body.purposes.values()) and body.version != current:
            raise InvalidMessage(
                f"the consent text is version {current}, not {body.version}: read it again "
                "(GET /consent-text)",
                field="version",
            )
        opt_out = None
        if body.purposes.get(Purpose.FLEXIBILITY_BIDDING) is False:
            ids = [c["session_id"] for c in ev.campaigns()]
            prefs = store.preferences(user_id) or {}
            opt_out = _opt_out_all(user_id, prefs, ids, int(store.now()))
        decisions = {p.value: given for p, given in body.purposes.items()}
        return _consent_view(
            ev.set_consent(user_id, decisions, version=body.version, opt_out=opt_out)
        )

    @router.get("/{user_id}/campaigns")
    def get_campaigns(user_id: str, who: str = me) -> list[dict[str, Any]]:
        """The market sessions the gateway knows, latest first, each with ``opted_in``: what
        the gateway will do for this user (consent and preferences together)."""
        own(user_id, who)
        given = _bidding(ev.consent(user_id))
        prefs = store.preferences(user_id) or {}
        chosen = prefs.get("campaigns") or {}
        return [
            {
                **c,
                "opted_in": given and bool(chosen.get(c["session_id"], prefs.get("opt_in", True))),
            }
            for c in ev.campaigns()
        ]

    @router.get("/{user_id}/statements")
    def get_statements(user_id: str, who: str = me) -> list[dict[str, Any]]:
        """The user's revenue statement per session (integers, token minor units)."""
        own(user_id, who)
        return store.statements_of(user_id)

    if claims is not None:
        claim_routes.install_routes(
            router,
            claims,
            me,
            own,
            lambda uid: (store.preferences(uid) or {}).get("wallet_address"),
        )
    return router


def gateway_app(
    store: GatewayStore,
    users: set[str],
    status: Callable[[], dict[str, Any]],
    *,
    ev: EvUserStore | None = None,
    desk_state: Callable[[], dict[str, Any]] | None = None,
    desk_token: str | None = None,
    claims: ClaimDesk | None = None,
) -> FastAPI:
    """The API the gateway serves: EV users' routes, the fleet desk and ``GET /status``."""
    app = FastAPI(
        title="flexmarket FSP gateway",
        description="EV users' preferences and statements; the gateway's status. Errors are "
        "RFC 9457 application/problem+json.",
    )
    install(app)
    app.include_router(ev_user_router(store, users, ev, claims))
    ev_page.install(app)
    desk.install(app, desk_state or (lambda: {}), desk_token if desk_state else None)

    @app.get("/status")
    def get_status() -> dict[str, Any]:
        return status()

    return app
