"""What the orchestrator waits for before it moves the chain past a session's bidding: each
FSP gateway's prognoses (before the DSO forecasts) and its offers (before gate closure).

Why per congestion point: the replay's FSP posts one prognosis per congestion point where it
has an EV in the delivery window, and offers at the requested points among them. Live must
not move on before the same messages are in, or the DSO's forecast (and so the requests and
the settlement) would differ from the replay's; and it must not wait for a gateway that has
nothing to send. What each gateway has decided is read from the market (its prognoses) and
from its own log (``offered``, ``no_bid``), never guessed from a timer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StayWindow:
    """One EV stay of an FSP: the congestion point of its station and its plug-in window."""

    congestion_point: str
    arrival: int
    departure: int


def log_events(path: Path, session_id: str) -> list[dict[str, Any]]:
    """A role's JSON log lines about ``session_id`` (other lines are skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("session_id") == session_id:
            out.append(event)
    return out


def expected_points(windows: Iterable[StayWindow], start: int, end: int) -> set[str]:
    """The points an FSP has an EV at during ``[start, end)``: the replay's FSP agent plans
    exactly those stays (``departure > start and arrival < end``), and posts one prognosis
    per point of them."""
    return {w.congestion_point for w in windows if w.departure > start and w.arrival < end}


def published_points(prognoses: Iterable[Mapping[str, Any]], fsp: str) -> set[str]:
    """The points ``fsp`` (lower-case address) has a prognosis at; the API names the signer
    ``submitter`` and the point in the signed ``body``."""
    return {
        str(p["body"]["congestion_point"])
        for p in prognoses
        if str(p.get("submitter", "")).lower() == fsp
    }


def no_ev(events: Iterable[Mapping[str, Any]]) -> bool:
    """The gateway said it has no EV for the session: it sends nothing."""
    return any(e.get("event") == "no_bid" and e.get("reason") == "no_ev" for e in events)


def prognoses_in(
    expected: set[str], published: set[str], events: Iterable[Mapping[str, Any]]
) -> bool:
    """Every expected prognosis is published, or the gateway has no EV (nothing to wait for)."""
    return expected <= published or no_ev(events)


def bid_done(
    expected: set[str],
    requests: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> bool:
    """The gateway has bid on the session's requests, or looked at every one of them and
    found nothing to offer; one with no EV at a requested point is not waited for.

    ``offered`` is logged once all its offers are posted (a partial list seen through the
    API would close the gate on a commitment whose offers are not all in); ``no_bid``
    ``no_offer`` names each request it passed over, so it counts only when it names all."""
    bodies = [r.get("body", r) for r in requests]
    if not expected & {str(b["congestion_point"]) for b in bodies}:
        return True
    ids = {str(b["request_id"]) for b in bodies}
    for e in events:
        kind, reason = e.get("event"), e.get("reason")
        if kind in ("offered", "bid_late") or (kind, reason) == ("no_bid", "no_ev"):
            return True
        if (kind, reason) == ("no_bid", "no_offer") and ids <= set(e.get("requests") or {}):
            return True
    return False
