"""A station keeps what the CSMS has not taken and sends it again, in order: a CSMS that
fails for a moment (InternalError), or a clock that fails for a moment, costs a station
lateness, never a reading and never its life. Real CSMS, real sockets, fast clock."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp_testkit import PASSWORD, ev, running, sleep_until

from adapters.clock import SimulatedClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.simulator import station as station_module
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from adapters.ocpp.sink import InMemorySink, MeterReading

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class FailingSink(InMemorySink):
    """Refuses to store the first ``fail_first`` readings it is given (or every one)."""

    def __init__(self, fail_first: int) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.refused = 0

    async def store(self, reading: MeterReading) -> None:
        if self.fail_first < 0 or self.refused < self.fail_first:
            self.refused += 1
            raise RuntimeError("database is locked")
        await super().store(reading)


class FlakyClock:
    """The test's clock, whose ``now`` fails on calls ``first`` to ``first + count - 1``."""

    def __init__(self, clock: SimulatedClock, first: int, count: int) -> None:
        self.clock, self.first, self.count, self.calls = clock, first, count, 0

    def now(self) -> float:
        self.calls += 1
        if self.first <= self.calls < self.first + self.count:
            raise OSError("connection refused")
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)


def _spec(station_id: str, t0: int) -> StationSpec:
    return StationSpec(station_id, PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))])


def _assert_complete(readings: list[MeterReading], first: int, last_at_least: int) -> None:
    """Every 60 s interval from ``first`` on, once each and in arrival order, up to at
    least ``last_at_least`` (the station may be sending the next one right now)."""
    stamps = [r.timestamp for r in readings]
    assert stamps == list(range(first, first + 60 * len(stamps), 60))
    assert stamps[-1] >= last_at_least


async def test_readings_the_csms_could_not_store_are_sent_again_in_order(t0: int, clock) -> None:
    sink = FailingSink(fail_first=4)
    spec = _spec("RETRY", t0)
    async with running([spec], clock, sink=sink) as (csms, fleet):
        station = fleet[spec.station_id]
        station.retry_delay_s = 0.05
        await sleep_until(clock, t0 + 1200)
        series = csms.sink.series(spec.station_id, 1)
        assert sink.refused == 4
        assert fleet.failures() == {}
        assert station.t >= t0 + 1140, "the station went on sampling"
        _assert_complete(series, t0 + 60, t0 + 1080)
        assert [e for e in csms.sink.events if e.kind in ("gap", "register_reset")] == []
        assert sum("InternalError" in e for e in station.errors) == 4  # each refusal shows


async def test_a_message_the_csms_keeps_refusing_is_given_up_visibly(
    t0: int, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(station_module, "MESSAGE_ATTEMPTS", 3)
    spec = _spec("REFUSED", t0)
    async with running([spec], clock, sink=FailingSink(fail_first=-1)) as (csms, fleet):
        station = fleet[spec.station_id]
        station.retry_delay_s = 0.05
        await sleep_until(clock, t0 + 600)
        given_up = [e for e in station.errors if "MeterValues not taken after 3 attempts" in e]
        assert len(given_up) >= 5, station.errors[-3:]
        assert fleet.failures() == {} and station.t >= t0 + 540
        assert csms.sink.readings == [] and station.readings_sent == 0


async def test_a_clock_that_fails_for_a_moment_delays_the_station_not_its_readings(
    t0: int, clock
) -> None:
    csms = Csms(credentials={"FLAKY": PASSWORD}, clock=clock)
    await csms.start()
    flaky = FlakyClock(clock, first=20, count=5)
    fleet = StationFleet(csms.url, [_spec("FLAKY", t0)], clock=flaky, meter_interval_s=60)
    try:
        await fleet.start(timeout_s=20)
        fleet["FLAKY"].retry_delay_s = 0.05
        await sleep_until(clock, t0 + 1200)
        station = fleet["FLAKY"]
        assert flaky.calls > 25, "the failing calls were made"
        assert sum(e.startswith("clock: OSError") for e in station.errors) == 5
        assert fleet.failures() == {}
        _assert_complete(csms.sink.series("FLAKY", 1), t0 + 60, t0 + 1080)
        assert station.t >= t0 + 1140
    finally:
        await fleet.stop()
        await csms.stop()


async def test_the_fleet_names_a_station_whose_run_ended_with_an_error(t0: int, clock) -> None:
    csms = Csms(credentials={"GOOD": PASSWORD, "BAD": "another"}, clock=clock)
    await csms.start()
    fleet = StationFleet(csms.url, [_spec("GOOD", t0), _spec("BAD", t0)], clock=clock)
    try:
        with pytest.raises(TimeoutError, match="1 of 2 stations not booted"):
            await fleet.start(timeout_s=5)
        failures: dict[str, Any] = fleet.failures()
        assert list(failures) == ["BAD"]
        assert "401" in repr(failures["BAD"])
    finally:
        await fleet.stop()
        await csms.stop()
