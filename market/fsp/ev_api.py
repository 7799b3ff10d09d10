"""The FSP gateway's HTTP API: EV users' preferences and revenue statements, and the
gateway's ``GET /status``.

Authentication: ``Authorization: Bearer <token>``, a per-EV-user token the FSP issues with
``flexmarket fsp token`` (random 256 bits; only its SHA-256 is stored). No token or an unknown
one is 401, another user's resources 403, a malformed body 422; all RFC 9457 problems naming
the field. There is no default token.

``GET /status`` (no token; bind the API to loopback or a private network) answers::

    {"sessions": {"<session id>": "<state seen>", ...},
     "offers_submitted": <sessions whose offers were committed and posted>,
     "orders": {"received": n, "verified": n, "rejected": n, "dispatched": n, "acked": n},
     "outbox": {"pending": n, "sent": n, "refused": n, "unsigned": n},
     "last_reading": {"<station id>": <Unix s of its latest reading>, ...},
     "stations_connected": n, "withdrawn_units": n, "now": <gateway clock, Unix s>}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

from market.api.problems import install
from market.errors import FlexMarketError, Forbidden, NotFound
from market.fsp.store import GatewayStore


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


def ev_user_router(store: GatewayStore, users: set[str]) -> APIRouter:
    """``/ev-users/{user_id}/preferences`` (GET, PUT) and ``/ev-users/{user_id}/statements``."""
    router = APIRouter(prefix="/ev-users", tags=["ev-users"])

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
        own(user_id, who)
        store.set_preferences(user_id, body.model_dump())
        return body

    @router.get("/{user_id}/statements")
    def get_statements(user_id: str, who: str = me) -> list[dict[str, Any]]:
        """The user's revenue statement per session (integers, token minor units)."""
        own(user_id, who)
        return store.statements_of(user_id)

    return router


def gateway_app(
    store: GatewayStore, users: set[str], status: Callable[[], dict[str, Any]]
) -> FastAPI:
    """The API the gateway serves: EV users' routes and ``GET /status``."""
    app = FastAPI(
        title="flexmarket FSP gateway",
        description="EV users' preferences and statements; the gateway's status. Errors are "
        "RFC 9457 application/problem+json.",
    )
    install(app)
    app.include_router(ev_user_router(store, users))

    @app.get("/status")
    def get_status() -> dict[str, Any]:
        return status()

    return app
