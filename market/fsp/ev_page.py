"""The EV-user page the FSP gateway serves (``/ev-user``) and the consent text it shows.

Why served by the gateway: EV users are the FSP's customers; the market operator never
learns who they are. Same conventions as :mod:`market.web`: plain HTML and small ES
modules from this package's ``web/`` folder, the same same-origin Content-Security-Policy,
nothing from a CDN. The token the FSP issued is typed into a form and sent only in the
``Authorization`` header, never in a URL.

The page renders the consent text (:data:`market.fsp.consent.CONSENT`, one section and one
choice per purpose) from ``GET /consent-text``; a decision names its ``version``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from market.fsp.consent import CONSENT
from market.web.pages import CSP

WEB_DIR = Path(__file__).resolve().parent / "web"


def _page() -> FileResponse:
    return FileResponse(
        WEB_DIR / "ev-user.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def install(app: FastAPI) -> None:
    """``/ev-user`` (and ``/`` redirecting there), ``/ev-static/*`` and ``/consent-text``."""
    app.add_api_route("/ev-user", _page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/", lambda: RedirectResponse("/ev-user"), methods=["GET"], include_in_schema=False
    )

    def consent_text() -> dict[str, Any]:
        """What an EV user consents to, per purpose: which data is shared, with whom and
        why, and what changes without that consent."""
        return CONSENT

    app.add_api_route("/consent-text", consent_text, methods=["GET"], tags=["ev-users"])
    app.mount("/ev-static", StaticFiles(directory=WEB_DIR), name="ev-static")
