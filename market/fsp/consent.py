"""What an EV user can consent to, purpose by purpose, and the text that says so.

Why per purpose (GDPR art. 6(1)(a), 7): consent must be specific, so each purpose is its own
decision, given or withdrawn alone, and one never implies another. The enum is deliberately
small; every purpose changes what the gateway does:

- ``flexibility_bidding``: the gateway offers the EV's flexibility in market sessions and
  relays its EVSE's meter readings. Without it no campaign opt-in is accepted and the EV is
  never bid.
- ``revenue_statements``: the FSP keeps an itemised statement per session (the EVSE's metered
  power per ISP, its energy, the orders at its congestion point). Without it the statement
  keeps only the totals the payment needs (share, delivered Wh, payout transaction).

``CONSENT`` is the single source of the text: ``GET /consent-text`` serves it, the page
renders it, and a decision names its ``version``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    """A purpose an EV user consents to (or not), each on its own."""

    FLEXIBILITY_BIDDING = "flexibility_bidding"
    REVENUE_STATEMENTS = "revenue_statements"


PURPOSES: tuple[str, ...] = tuple(p.value for p in Purpose)

CONSENT: dict[str, Any] = {
    "version": "ev-data-2",
    "purpose": "Each purpose below is a separate choice: you may consent to one and not the "
    "other, and withdraw either at any time.",
    "purposes": [
        {
            "id": Purpose.FLEXIBILITY_BIDDING.value,
            "title": "Offer my EV's charging flexibility to the local flexibility market",
            "shared": [
                {
                    "with": "The FSP (the company running this gateway)",
                    "data": "Your user id and the EVSE you charge at; the station's meter "
                    "readings of that EVSE (energy registers, state of charge, time); the "
                    "EV's charging needs the station reports (departure time, energy); your "
                    "preferences here (campaign opt-ins, departure time, minimum state of "
                    "charge, minimum price, battery size).",
                    "why": "To plan and control your charging within your limits.",
                },
                {
                    "with": "The market operator",
                    "data": "The station-signed meter readings of your EVSE (station and EVSE "
                    "id, time, energy registers, state of charge) and the EVSE as an asset "
                    "(its congestion point and maximum power). Never your name, user id or "
                    "preferences. The FSP's prognoses and offers are sums over all its EVs "
                    "at a congestion point.",
                    "why": "To verify the flexibility delivered and settle the FSP's payout.",
                },
                {
                    "with": "The blockchain (public)",
                    "data": "Only hashes and aggregates: Merkle roots of the FSP's offers, "
                    "of the orders and of the delivery report, and the FSP's total payout. "
                    "No meter reading, no user id.",
                    "why": "So that anyone can audit the market's results.",
                },
            ],
            "without": "Your EV is never offered and you cannot opt into a campaign.",
        },
        {
            "id": Purpose.REVENUE_STATEMENTS.value,
            "title": "Keep an itemised revenue statement for me",
            "shared": [
                {
                    "with": "The FSP (the company running this gateway)",
                    "data": "Per session: your EVSE's metered power and baseline per ISP, "
                    "the energy you charged, and the orders at your congestion point, next "
                    "to your share.",
                    "why": "To show you exactly why you earned your share.",
                },
            ],
            "without": "Your statement keeps only the totals the payment needs: your share, "
            "the Wh your EVSE delivered and the payout transaction.",
        },
    ],
    "withdraw": "You can withdraw each consent at any time on this page. Withdrawing the "
    "bidding consent opts you out of every campaign at once. Readings already relayed for a "
    "settled session stay with the market as settlement evidence (station and EVSE id, never "
    "your name or user id). Your FSP can erase your personal data on request "
    "(flexmarket privacy erase); the totals accounting law requires are then kept under a "
    "pseudonym.",
}
