"""The FSP's fleet as its own CSMS sees it: which EVSEs have an EV plugged in, at what SoC,
with which charging needs and which user preferences. Pure: the gateway passes in what it
read from the CSMS, the outbox and its store.

Why defaults are explicit: a station that sends no SoC and a user who set no preferences must
still give a plannable EV, so the gateway never bids with a guess it cannot name. Missing SoC
falls back to the user's announced arrival SoC, then to ``DEFAULT_SOC_PCT``; missing departure
to the session's delivery end (the EV is assumed to stay through the session it is plugged
in for) and an EV plugged in now counts as plugged from the session's start (a dispatch
after delivery began still plans every ISP); battery capacity is the EV user's
``battery_wh`` or ``DEFAULT_BATTERY_WH``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.ocpp.charging_needs import EvChargingNeeds
from adapters.ocpp.sink import MeterReading
from market.agents.common import MarketSession
from market.agents.fleet import EV, UserPreferences, ev_with_charging_needs
from market.agents.stays import AnnouncedStay, reported_ev
from market.fsp.config import FspGatewayConfig

DEFAULT_SOC_PCT = 50
DEFAULT_BATTERY_WH = 60_000


def market_session(row: dict[str, Any]) -> MarketSession:
    """The agents' view of a session row of ``GET /sessions``."""
    isp_s = int(row["isp_s"])
    return MarketSession(
        session_id=str(row["id"]),
        start_unix=int(row["delivery_start"]),
        n_isps=(int(row["delivery_end"]) - int(row["delivery_start"])) // isp_s,
        gate_closure_unix=int(row["gate_closure"]),
        isp_s=isp_s,
    )


@dataclass(frozen=True)
class EvseState:
    """What the CSMS says of one EVSE right now."""

    plugged: bool
    last: MeterReading | None = None
    needs: EvChargingNeeds | None = None


def user_of(cfg: FspGatewayConfig) -> dict[tuple[str, int], str]:
    """(station, EVSE) -> EV user id."""
    return {(u.station, u.evse_id): uid for uid, u in cfg.ev_users.items()}


def fleet(
    cfg: FspGatewayConfig,
    states: Mapping[tuple[str, int], EvseState],
    prefs: Mapping[str, Mapping[str, Any]],
    *,
    now: int,
    session_start: int,
    session_end: int,
) -> list[EV]:
    """One EV per plugged-in EVSE (named by its user, else ``station/evse``), sorted by id.

    A user who opted out (or gave no consent) stays in the fleet with ``opt_in`` false: the
    agent offers none of their flexibility and dispatches their baseline (uncontrolled
    charging), but their baseline is in the FSP's prognosis, because the market meters every
    registered EVSE of the FSP's portfolio at settlement; leaving it out would make their
    charging count against the flexibility the others delivered."""
    users = user_of(cfg)
    out: list[EV] = []
    for sid, station in sorted(cfg.csms.stations.items()):
        for evse in station.evses:
            state = states.get((sid, evse.evse_id))
            if state is None or not state.plugged:
                continue
            uid = users.get((sid, evse.evse_id))
            pref = dict(prefs.get(uid, {})) if uid else {}
            battery_wh = int(pref.get("battery_wh") or DEFAULT_BATTERY_WH)
            soc_pct = (
                state.last.soc_pct
                if state.last is not None and state.last.soc_pct is not None
                else int(pref.get("arrival_soc_pct") or DEFAULT_SOC_PCT)
            )
            departure = int(pref.get("departure_unix") or session_end)
            ev = EV(
                ev_id=uid or f"{sid}/{evse.evse_id}",
                station_id=sid,
                evse_id=evse.evse_id,
                congestion_point=evse.congestion_point,
                capacity_wh=battery_wh,
                soc_wh=battery_wh * max(0, min(100, soc_pct)) // 100,
                arrival_unix=min(now, session_start),  # plugged in now: counted from the start
                max_charge_w=evse.max_import_w,
                max_discharge_w=evse.max_export_w,
                preferences=UserPreferences(
                    departure_unix=max(departure, now),
                    min_departure_soc_wh=battery_wh * int(pref.get("min_soc_pct") or 0) // 100,
                    min_price_per_mwh=int(pref.get("min_price_per_mwh") or 0),
                    opt_in=bool(pref.get("opt_in", True)),
                ),
            )
            if state.needs is not None:
                ev = ev_with_charging_needs(ev, state.needs)
            out.append(ev)
    return sorted(out, key=lambda e: e.ev_id)


def announced_fleet_ev(
    stay: AnnouncedStay,
    state: EvseState | None,
    prefs: Mapping[str, Mapping[str, Any]],
    session_start: int,
) -> EV:
    """An announced stay as the replay's FSP plans it (:func:`reported_ev`: the announced
    arrival SoC until the charger reports one after arrival, then that report). A configured
    EV user's consent and campaign opt-in (``prefs``) can only take the EV out of the offers,
    never put it in."""
    last = state.last if state is not None else None
    ev = reported_ev(
        stay,
        last.soc_pct if last is not None else None,
        last.timestamp if last is not None else None,
        session_start,
    )
    user = prefs.get(stay.ev_id)
    if user is not None and not bool(user.get("opt_in", True)):
        ev = dataclasses.replace(ev, preferences=dataclasses.replace(ev.preferences, opt_in=False))
    return ev
