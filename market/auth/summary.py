"""What a wallet shows next to the body hash: a one-line summary of a signed message's body.

Why: a wallet signing ``eth_signTypedData_v4`` shows the typed fields only. With nothing but an
opaque ``bodyHash`` the signer signs blind, and a hostile page could have it sign an offer at
any price. The summary is a signed field of the envelope, and the service refuses an envelope
whose summary is not exactly ``summarize(kind, body)``, so what the wallet showed is what the
body says. A pure function of the body (no session lookup), so the Python client, the page and
the service all compute it alone. The one exception is an offer's energy in Wh: the ISP length
is a property of the session, not of the body, so the signer and the service both read the
session's ``isp_s`` and pass it in (``summarize(..., isp_s=...)``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: The summary is plain text of at most this many characters (wallet screens are small).
MAX_SUMMARY_CHARS = 512


def eur(units: Any) -> str:
    """Token minor units (6 decimals) as exact EUR text, as the pages print it."""
    n = int(units)
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 1_000_000)
    fraction = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{fraction} EUR"


def _get(body: Mapping[str, Any], key: str) -> Any:
    value = body.get(key)
    return "?" if value is None else value


def _items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _sub(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def energy_wh(powers_w: Sequence[int], isp_s: int) -> int:
    """Energy of ISPs at these powers (W), in whole Wh (floor of the exact W·s / 3600)."""
    return sum(abs(int(p)) for p in powers_w) * isp_s // 3600


def _offer(body: Mapping[str, Any], isp_s: int | None) -> str:
    options = [o for o in _items(body.get("options")) if isinstance(o, Mapping)]
    parts = []
    for o in options:
        isps = [i for i in _items(o.get("isps")) if isinstance(i, Mapping)]
        powers = [int(i.get("power_w", 0)) for i in isps]
        peak_w = max((abs(p) for p in powers), default=0)
        if isp_s is None:  # the session is unknown: the write is refused for that anyway
            shape = f"up to {peak_w} W in {len(isps)} ISPs"
        else:
            shape = (
                f"{energy_wh(powers, isp_s)} Wh, up to {peak_w} W in {len(isps)} ISPs of {isp_s} s"
            )
        parts.append(f"{_get(o, 'option_ref')}: {shape} at {eur(o.get('price_per_mwh', 0))}/MWh")
    return (
        f"Offer {_get(body, 'offer_id')} in session {_get(body, 'session_id')} at "
        f"{_get(body, 'congestion_point')}, direction {_get(body, 'direction')}; "
        + "; ".join(parts)
    )


def _request(body: Mapping[str, Any]) -> str:
    isps = [i for i in _items(body.get("isps")) if isinstance(i, Mapping)]
    peak_w = max((int(i.get("max_power_w", 0)) for i in isps), default=0)
    return (
        f"Request {_get(body, 'request_id')} in session {_get(body, 'session_id')} at "
        f"{_get(body, 'congestion_point')}, direction {_get(body, 'direction')}: "
        f"budget {eur(body.get('budget_units', 0))}, max price "
        f"{eur(body.get('max_price_per_mwh', 0))}/MWh, up to {peak_w} W in {len(isps)} ISPs"
    )


def _draft(body: Mapping[str, Any]) -> str:
    return f"Draft for the DSO's approval (no escrow yet): {_request(_sub(body, 'request'))}"


def _decision(body: Mapping[str, Any]) -> str:
    verb = {"approve": "Approve", "reject": "Reject"}.get(str(body.get("decision")), "Decide on")
    return f"{verb} request draft {_get(body, 'draft_id')}"


def _prognosis(body: Mapping[str, Any]) -> str:
    return (
        f"Baseline {_get(body, 'prognosis_id')} in session {_get(body, 'session_id')} at "
        f"{_get(body, 'congestion_point')}, {len(_items(body.get('isps')))} ISPs"
    )


def _session(body: Mapping[str, Any]) -> str:
    return (
        f"Session {_get(body, 'session_id')}: gate closure {_get(body, 'gate_closure')}, "
        f"delivery {_get(body, 'delivery_start')}..{_get(body, 'delivery_end')}, "
        f"ISP {_get(body, 'isp_s')} s"
    )


def _contributions(body: Mapping[str, Any]) -> str:
    rows = _items(body.get("contributions"))
    return f"User contributions in session {_get(body, 'session_id')}: {len(rows)} rows"


def _dispute(body: Mapping[str, Any]) -> str:
    return (
        f"Dispute evidence for session {_get(body, 'session_id')}: "
        f"{len(_items(body.get('readings')))} readings; "
        f"reason: {str(body.get('reason') or '')[:200]}"
    )


def _stations(body: Mapping[str, Any]) -> str:
    rows = [r for r in _items(body.get("stations")) if isinstance(r, Mapping)]
    up = sum(1 for r in rows if r.get("connected") is True)
    return f"Station status of {len(rows)} stations, {up} connected"


def _digests(body: Mapping[str, Any]) -> str:
    digests = [d for d in _items(body.get("digests")) if isinstance(d, Mapping)]
    readings = sum(int(d.get("count", 0)) for d in digests)
    stations = len({str(d.get("station")) for d in digests})
    return (
        f"Readings digests for session {_get(body, 'session_id')}: {len(digests)} digests of "
        f"{stations} stations, {readings} readings"
    )


def _fields(*names: str) -> Callable[[str, Mapping[str, Any]], str]:
    def line(kind: str, body: Mapping[str, Any]) -> str:
        shown = ", ".join(f"{n} {_get(body, n)}" for n in names if n in body)
        return f"{kind.replace('_', ' ').capitalize()}: {shown}" if shown else kind

    return line


_BY_KIND: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "request": lambda _, b: _request(b),
    "request_draft": lambda _, b: _draft(b),
    "request_draft_decision": lambda _, b: _decision(b),
    "prognosis": lambda _, b: _prognosis(b),
    "session": lambda _, b: _session(b),
    "user_contributions": lambda _, b: _contributions(b),
    "dispute_evidence": lambda _, b: _dispute(b),
    "readings_digests": lambda _, b: _digests(b),
    "participant": _fields("name", "eic_code"),
    "congestion_point": _fields("code", "name"),
    "asset": _fields("asset_id", "station_id", "congestion_point", "max_import_w", "max_export_w"),
    "meter_reading": _fields("station_id", "evse_id", "timestamp", "import_wh", "export_wh"),
    "dispatch_status": _fields("order_id", "station_id", "state"),
    "dispatch_ack": lambda _, b: (
        f"Dispatch acknowledgement in session {_get(b, 'session_id')} of "
        f"{len(_items(b.get('order_ids')))} orders"
    ),
    "station_status": lambda _, b: _stations(b),
    "revenue_contract": lambda _, b: (
        f"Revenue-sharing contract {_get(_sub(b, 'contract'), 'contract_id')} between FSP "
        f"{_get(_sub(b, 'contract'), 'fsp')} and EV user {_get(_sub(b, 'contract'), 'ev_user')}"
    ),
}


def _visible(text: str) -> str:
    """Control, format (bidi overrides, zero-width) and unassigned characters become U+FFFD:
    the line must read on a wallet's screen as it is, on one line."""
    return "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in text)


def summarize(kind: str, body: Any, *, isp_s: int | None = None) -> str:
    """The one summary line of a ``kind`` message with ``body`` (never raises on odd bodies:
    the body's own schema check names what is wrong with it). ``isp_s`` is the ISP length of
    an offer's session: with it, each option shows its energy in Wh."""
    if not isinstance(body, Mapping):
        return _visible(kind)
    try:
        line = _BY_KIND.get(kind, _fields())
        text = _offer(body, isp_s) if kind == "offer" else line(kind, body)
    except (TypeError, ValueError):
        text = kind
    text = _visible(text)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"
