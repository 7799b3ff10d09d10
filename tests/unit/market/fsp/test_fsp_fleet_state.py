"""The fleet the gateway plans with: plugged EVSEs only, SoC from the station's reading (else
the user's announced arrival SoC, else the default), user preferences and opt-out applied."""

from __future__ import annotations

from typing import Any

from adapters.ocpp.sink import MeterReading
from market.fsp.config import parse_config
from market.fsp.fleet_state import DEFAULT_BATTERY_WH, EvseState, fleet

START, END, NOW = 10_000, 13_600, 9_000


def _cfg() -> Any:
    evses = [
        {"evse_id": 1, "congestion_point": "CP-1", "max_import_w": 11_000, "max_export_w": 5_000},
        {"evse_id": 2, "congestion_point": "CP-2", "max_import_w": 7_000},
    ]
    return parse_config(
        {
            "market_url": "http://m",
            "key_env": "K",
            "csms": {"stations": {"ST": {"password_env": "P", "evses": evses}}},
            "ev_users": {"alice": {"station": "ST", "evse_id": 1}},
        }
    )


def _reading(soc: int | None) -> MeterReading:
    return MeterReading("ST", 1, NOW, 0, 0, 0, soc, "ocpp2.1", NOW)


def test_plugged_evses_become_evs_with_their_users_preferences() -> None:
    states = {("ST", 1): EvseState(True, _reading(40)), ("ST", 2): EvseState(True)}
    prefs = {"alice": {"battery_wh": 80_000, "min_soc_pct": 50, "departure_unix": 20_000}}
    anon, alice = fleet(_cfg(), states, prefs, now=NOW, session_start=START, session_end=END)
    assert alice.ev_id == "alice" and anon.ev_id == "ST/2"
    assert alice.soc_wh == 32_000 and alice.capacity_wh == 80_000
    assert alice.preferences.min_departure_soc_wh == 40_000
    assert alice.preferences.departure_unix == 20_000
    assert alice.max_discharge_w == 5_000 and alice.congestion_point == "CP-1"
    assert anon.soc_wh == DEFAULT_BATTERY_WH // 2 and anon.preferences.departure_unix == END
    assert anon.arrival_unix == NOW  # plugged before the session: counted from now


def test_unplugged_or_opted_out_evses_are_left_out_and_a_late_plan_counts_from_start() -> None:
    states = {("ST", 1): EvseState(True, _reading(None)), ("ST", 2): EvseState(False)}
    (alice,) = fleet(
        _cfg(),
        states,
        {"alice": {"arrival_soc_pct": 20}},
        now=START + 5,
        session_start=START,
        session_end=END,
    )
    assert alice.soc_wh == DEFAULT_BATTERY_WH // 5 and alice.arrival_unix == START
    assert (
        fleet(
            _cfg(),
            states,
            {"alice": {"opt_in": False}},
            now=NOW,
            session_start=START,
            session_end=END,
        )
        == []
    )
