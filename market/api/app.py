"""The FastAPI application: routers, problem handlers, and an optional embedded worker."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from market.api import problems
from market.api.limits import RequestLimits
from market.api.routers import (
    assets,
    audit,
    auth,
    commitment_hashes,
    commitments,
    congestion_points,
    deployment,
    disputes,
    dso_statements,
    events,
    evidence,
    metering,
    offers,
    orders,
    participants,
    prognoses,
    readings_digests,
    request_drafts,
    requests,
    sessions,
    statements,
    station_status,
    wallet,
)
from market.api.routers import market as market_router
from market.auth.sign_in_throttle import SignInThrottle
from market.auth.siwe import TokenIssuer
from market.bundles import BundleStore
from market.core import MarketCore
from market.settings import Settings
from market.web import pages as web_pages


def create_app(
    *,
    core: MarketCore,
    issuer: TokenIssuer,
    bundles: BundleStore,
    settings: Settings,
    worker: Any | None = None,
) -> FastAPI:
    """Build the app around ready-made parts; ``worker`` (if given) runs in a thread."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if worker is not None:
            thread = threading.Thread(
                target=worker.run_forever, args=(stop,), name="lifecycle-worker", daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)

    app = FastAPI(
        title="flexmarket",
        version="0.1.0",
        description=(
            "Local flexibility marketplace. Every write is an EIP-712 signed envelope "
            "(see GET /market); private reads need a SIWE bearer token (POST /auth/siwe). "
            "Errors are RFC 9457 application/problem+json."
        ),
        lifespan=lifespan,
        docs_url=None,  # market.web serves /docs and /redoc from node_modules, not a CDN
        redoc_url=None,
    )
    app.state.core = core
    app.state.issuer = issuer
    app.state.sign_in_throttle = SignInThrottle()
    app.state.bundles = bundles
    app.state.settings = settings
    problems.install(app)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_request_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    for module in (
        market_router,
        deployment,
        auth,
        participants,
        congestion_points,
        assets,
        station_status,
        sessions,
        requests,
        request_drafts,
        prognoses,
        offers,
        orders,
        metering,
        disputes,
        readings_digests,
        commitments,
        commitment_hashes,
        statements,
        dso_statements,
        events,
        evidence,
        audit,
        wallet,
    ):
        app.include_router(module.router)
    web_pages.install(app)
    return app
