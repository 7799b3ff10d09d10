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


def test_unplugged_evses_out_opted_out_ones_inflexible_a_late_plan_from_start() -> None:
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
    # an opted-out user's EV stays (its baseline is metered in the portfolio), inflexible
    (out,) = fleet(
        _cfg(),
        states,
        {"alice": {"opt_in": False}},
        now=NOW,
        session_start=START,
        session_end=END,
    )
    assert out.ev_id == "alice" and out.preferences.opt_in is False


def _stay(**kw: Any) -> Any:
    from market.agents.stays import AnnouncedStay

    base: dict[str, Any] = {
        "ev_id": "alice", "station": "ST", "evse_id": 1, "congestion_point": "CP-1",
        "battery_wh": 60_000, "arrival_soc_pct": 20, "arrival_unix": NOW - 600,
        "departure_unix": END + 3600, "max_charge_w": 11_000, "min_departure_soc_pct": 80,
    }  # fmt: skip
    return AnnouncedStay.model_validate({**base, **kw})


def test_an_announced_stay_is_planned_from_its_arrival_soc_until_the_ev_plugs_in() -> None:
    from market.fsp.fleet_state import announced_fleet_ev

    stay = _stay(arrival_unix=START + 900)
    ev = announced_fleet_ev(stay, None, {}, START)
    assert ev.soc_wh == 12_000 and ev.arrival_unix == START + 900
    assert ev.preferences.min_departure_soc_wh == 48_000 and ev.preferences.opt_in


def test_a_plugged_in_announced_ev_takes_the_chargers_soc_and_charges_until_the_start() -> None:
    from market.fsp.fleet_state import announced_fleet_ev

    stay = _stay()
    reading = MeterReading("ST", 1, NOW - 300, 0, 0, 0, 40, "ocpp2.1", NOW - 300)
    ev = announced_fleet_ev(stay, EvseState(True, reading), {}, START)
    # 40 % of 60 kWh at NOW-300, then 11 kW uncontrolled for the 1 300 s to the start
    assert ev.soc_wh == 24_000 + 11_000 * 1_300 // 3600
    # a reading older than the stay (the EV parked here before) is not this EV's SoC
    old = MeterReading("ST", 1, NOW - 900, 0, 0, 0, 90, "ocpp2.1", NOW - 900)
    assert announced_fleet_ev(stay, EvseState(True, old), {}, START).soc_wh == 12_000
    # a user who withdrew consent (or opted out of the campaign) is not offered
    off = announced_fleet_ev(stay, None, {"alice": {"opt_in": False}}, START)
    assert not off.preferences.opt_in
