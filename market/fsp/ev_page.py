"""The EV-user page the FSP gateway serves (``/ev-user``) and the consent text it shows.

Why served by the gateway: EV users are the FSP's customers; the market operator never
learns who they are. Same conventions as :mod:`market.web`: plain HTML and small ES
modules from this package's ``web/`` folder, the same same-origin Content-Security-Policy,
nothing from a CDN. The token the FSP issued is typed into a form and sent only in the
``Authorization`` header, never in a URL.

``CONSENT`` is the single source of what the user agrees to: the page renders it from
``GET /consent-text`` and a decision names its ``version``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from market.web.pages import CSP

WEB_DIR = Path(__file__).resolve().parent / "web"

CONSENT: dict[str, Any] = {
    "version": "ev-data-1",
    "purpose": "Offering your EV's charging flexibility to the local flexibility market "
    "(the distribution grid operator buys it to relieve congestion), and paying you your "
    "share of what the FSP earns.",
    "shared": [
        {
            "with": "The FSP (the company running this gateway)",
            "data": "Your user id and the EVSE you charge at; the station's meter readings "
            "of that EVSE (energy registers, state of charge, time); the EV's charging "
            "needs the station reports (departure time, energy); your preferences here "
            "(campaign opt-ins, departure time, minimum state of charge, minimum price, "
            "battery size); your statements.",
            "why": "To plan and control your charging within your limits and to compute "
            "your share.",
        },
        {
            "with": "The market operator",
            "data": "The station-signed meter readings of your EVSE (station and EVSE id, "
            "time, energy registers, state of charge) and the EVSE as an asset (its "
            "congestion point and maximum power). Never your name, user id or "
            "preferences. The FSP's prognoses and offers are sums over all its EVs at a "
            "congestion point.",
            "why": "To verify the flexibility delivered and settle the FSP's payout.",
        },
        {
            "with": "The blockchain (public)",
            "data": "Only hashes and aggregates: Merkle roots of the FSP's offers, of the "
            "orders and of the delivery report, and the FSP's total payout. No meter "
            "reading, no user id.",
            "why": "So that anyone can audit the market's results.",
        },
    ],
    "withdraw": "You can withdraw consent at any time on this page: the gateway then opts "
    "you out of every campaign at once and stops bidding your EV. Readings already "
    "relayed for a settled session stay with the market as settlement evidence.",
}


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
        """What an EV user consents to: which data is shared, with whom and why."""
        return CONSENT

    app.add_api_route("/consent-text", consent_text, methods=["GET"], tags=["ev-users"])
    app.mount("/ev-static", StaticFiles(directory=WEB_DIR), name="ev-static")
