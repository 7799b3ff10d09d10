"""A later session (intraday) plans the EVs already plugged in from the SoC their charger last
reported to the CSMS (an integer percent, as the FSP gateway in ``flexmarket live`` sees it),
not from the SoC the user announced on arrival hours earlier, nor from the simulated battery's
exact Wh (which no FSP knows, and which made live and replay pay different figures)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from test_scenario import MINIMAL

from adapters.ocpp.sink import MeterReading
from market.replay.bidding import _plugged_in_now
from market.replay.scenario import parse_scenario
from market.replay.world import stays


class ReportingCsms:
    """The one call the planner makes of the replay's CSMS: the EVSE's last reading."""

    def __init__(self, readings: dict[tuple[str, int], MeterReading]) -> None:
        self.readings = readings

    def last_reading(self, station_id: str, evse_id: int) -> MeterReading | None:
        return self.readings.get((station_id, evse_id))


def _ctx(*, reported: tuple[int, int] | None, stations: bool = True) -> tuple[Any, Any]:
    """``reported``: (timestamp, SoC percent) of the EVSE's last reading, if any."""
    sc = parse_scenario(MINIMAL)  # ev1: 60 kWh, 11 kW, plugged 08:00-17:00 at 40 %
    (stay,) = stays(sc)
    readings = {}
    if reported is not None:
        ts, pct = reported
        readings[(stay.station, stay.evse)] = MeterReading(
            stay.station, stay.evse, ts, 0, 0, 0, pct, "ocpp2.1", ts
        )
    return SimpleNamespace(
        scenario=sc,
        grid=SimpleNamespace(station_point={"CS1": "cp"}, station_bus={"CS1": 1}),
        csms=ReportingCsms(readings) if stations else None,
        stays=[stay],
    ), stay


def test_first_session_uses_the_announced_arrival_soc() -> None:
    ctx, stay = _ctx(reported=None, stations=False)
    assert _plugged_in_now(ctx, stay, ctx.scenario.at("12:00")).soc_wh == 24000


def test_an_ev_plugged_in_earlier_is_planned_from_its_chargers_integer_percent() -> None:
    ctx, stay = _ctx(reported=(_at(10, 0), 57))
    # 57 % of 60 kWh at 10:00 (34 200 Wh, whatever the battery's exact Wh), plus 30 min of
    # uncontrolled charging at 11 kW before 10:30
    ev = _plugged_in_now(ctx, stay, ctx.scenario.at("10:30"))
    assert ev.soc_wh == 34200 + 5500
    assert ev.arrival_unix == stay.arrival


def test_the_estimate_never_exceeds_the_battery() -> None:
    ctx, stay = _ctx(reported=(_at(10, 0), 95))
    assert _plugged_in_now(ctx, stay, ctx.scenario.at("13:00")).soc_wh == 60000


def test_a_report_from_before_or_at_the_arrival_keeps_the_announced_soc() -> None:
    for at in (_at(7, 0), _at(8, 0)):  # before the EV arrived (08:00); at the instant it did
        ctx, stay = _ctx(reported=(at, 95))
        assert _plugged_in_now(ctx, stay, ctx.scenario.at("09:00")).soc_wh == 24000


def _at(hour: int, minute: int) -> int:
    return parse_scenario(MINIMAL).at(f"{hour:02d}:{minute:02d}")
