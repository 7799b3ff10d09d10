"""Acceptance 4: faults injected by the simulator are handled and visible, never silent."""

from __future__ import annotations

import pytest
from ocpp_testkit import ISP_S, LEAD_S, PASSWORD, ev, running, sleep_until

from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from adapters.ocpp.sink import SqlReadingSink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.mark.parametrize("protocol", ["ocpp2.1", "ocpp1.6"])
async def test_reconnect_resends_active_profile(protocol: str, t0: int, clock) -> None:
    isp1 = t0 + LEAD_S
    faults = StationFaults(drop_at_unix=isp1 + 300, drop_for_s=120, lose_profiles_on_drop=True)
    spec = StationSpec(f"DROP-{protocol}", PASSWORD, protocol, [EvseSpec(1, ev(t0))], faults=faults)
    p2 = -4_000 if protocol == "ocpp2.1" else 2_000
    async with running([spec], clock) as (csms, fleet):
        station = fleet[spec.station_id]
        await sleep_until(clock, t0 + 120)
        await csms.dispatcher.dispatch(
            {
                (spec.station_id, 1): [
                    IspSetpoint(isp1, ISP_S, 6_000),
                    IspSetpoint(isp1 + ISP_S, ISP_S, p2),
                ]
            }
        )
        await sleep_until(clock, isp1 + 2 * ISP_S + 60)

        order = csms.dispatcher.order(spec.station_id, 1)
        assert order is not None and order.sends == 2, "profile re-sent after reconnect"
        assert station.boots == 2
        assert len(station.profiles_received) == 2
        assert csms.session(spec.station_id).connects == 2
        # The re-sent profile governed the second ISP exactly.
        readings = {r.timestamp: r for r in csms.sink.series(spec.station_id, 1)}
        b, c = isp1 + ISP_S, isp1 + 2 * ISP_S
        if p2 < 0:
            assert readings[c].export_wh - readings[b].export_wh == -p2 * ISP_S // 3600
        else:
            assert readings[c].import_wh - readings[b].import_wh == p2 * ISP_S // 3600
        # Samples taken offline were queued and delivered: no gap, nothing lost.
        meter_start = 1 if protocol == "ocpp1.6" else 0  # StartTransaction's meterStart
        assert len(csms.sink.series(spec.station_id, 1)) == station.readings_sent + meter_start
        assert [e for e in csms.sink.events if e.kind == "gap"] == []


async def test_rejected_and_ignored_profiles_visible_in_status(t0: int, clock) -> None:
    isp1 = t0 + LEAD_S
    rej = StationSpec("REJ", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))],
                      faults=StationFaults(reject_profiles=True))  # fmt: skip
    ign = StationSpec("IGN", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))],
                      faults=StationFaults(ignore_profiles=True))  # fmt: skip
    ok = StationSpec("OK", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))])
    async with running([rej, ign, ok], clock) as (csms, _fleet):
        await sleep_until(clock, t0 + 120)
        plan = [IspSetpoint(isp1, ISP_S, -5_000)]
        outcome = await csms.dispatcher.dispatch({(s.station_id, 1): plan for s in (rej, ign, ok)})
        (r,) = outcome[("REJ", 1)]
        assert r.status == DispatchStatus.REJECTED and r.reason == "Fault"
        assert outcome[("IGN", 1)][0].status == DispatchStatus.CONFIRMED  # it lies...
        await sleep_until(clock, isp1 + ISP_S + 60)
        (i,) = csms.dispatcher.status("IGN", 1)
        assert i.status == DispatchStatus.NOT_FOLLOWED  # ...and the meter tells
        assert i.samples >= 2 and i.samples_following == 0
        (o,) = csms.dispatcher.status("OK", 1)
        assert o.status == DispatchStatus.CLEARED and o.confirmed
        assert o.samples_following == o.samples > 0


async def test_gap_reset_and_late_clock_recorded_as_events(t0: int, clock, tmp_path) -> None:
    sink = SqlReadingSink(f"sqlite:///{tmp_path / 'readings.db'}")
    gap = StationSpec(
        "GAP",
        PASSWORD,
        "ocpp2.0.1",
        [EvseSpec(1, ev(t0))],
        faults=StationFaults(gap_from_unix=t0 + 700, gap_to_unix=t0 + 1000),
    )
    rst = StationSpec(
        "RST",
        PASSWORD,
        "ocpp1.6",
        [EvseSpec(1, ev(t0))],
        faults=StationFaults(reset_registers_at_unix=t0 + 800),
    )
    late = StationSpec("LATE", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))],
                       faults=StationFaults(clock_late_s=600))  # fmt: skip
    async with running([gap, rst, late], clock, sink=sink, late_clock_tolerance_s=300) as (
        _csms,
        fleet,
    ):
        await sleep_until(clock, t0 + 1200)
    sent = {sid: s.readings_sent for sid, s in fleet.stations.items()}
    # Csms.stop() flushed the SQL sink; read everything back from the database.
    events = sink.load_events()
    gaps = [e for e in events if e.kind == "gap"]
    assert [(e.station_id, e.start_ts, e.end_ts) for e in gaps] == [("GAP", t0 + 660, t0 + 1020)]
    # The energy delivered during the gap is still in the registers, not lost as zero.
    assert gaps[0].import_after_wh - gaps[0].import_before_wh == 11_000 * 360 // 3600

    resets = [e for e in events if e.kind == "register_reset"]
    assert [(e.station_id, e.end_ts) for e in resets] == [("RST", t0 + 840)]
    assert resets[0].import_after_wh < resets[0].import_before_wh
    rst_series = sink.load_readings("RST", 1)
    assert any(r.import_wh < 200 and r.timestamp == t0 + 840 for r in rst_series)

    lates = [e for e in events if e.kind == "late_clock"]
    assert lates and {e.station_id for e in lates} == {"LATE"}
    assert all(e.end_ts - e.start_ts >= 600 for e in lates)

    for sid, n in sent.items():  # plus the 1.6 station's StartTransaction meterStart
        assert len(sink.load_readings(sid, 1)) == n + (1 if sid == "RST" else 0)


async def test_silent_station_times_out_and_offline_station_gets_profile_on_boot(
    t0: int, clock
) -> None:
    import base64
    import json

    from websockets.asyncio.client import connect

    later = StationSpec("LATER", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))])
    async with running([], clock, call_timeout_s=0.5) as (csms, _fleet):
        csms.add_station("MUTE", PASSWORD)
        csms.add_station("LATER", PASSWORD)
        token = base64.b64encode(f"MUTE:{PASSWORD}".encode()).decode()
        async with connect(
            f"{csms.url}/MUTE",
            subprotocols=["ocpp2.1"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
            proxy=None,
        ) as mute:
            boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
            await mute.send(json.dumps([2, "b", "BootNotification", boot]))
            assert json.loads(await mute.recv())[0] == 3
            plan = [IspSetpoint(t0 + LEAD_S, ISP_S, 4_000)]
            outcome = await csms.dispatcher.dispatch({("MUTE", 1): plan, ("LATER", 1): plan})
            assert outcome[("MUTE", 1)][0].status == DispatchStatus.TIMEOUT
            assert outcome[("LATER", 1)][0].status == DispatchStatus.NOT_CONNECTED
        # The offline station connects afterwards and receives the still-active profile.
        from adapters.ocpp.simulator.fleet import StationFleet

        fleet = StationFleet(csms.url, [later], clock=clock, call_timeout_s=10)
        await fleet.start(timeout_s=20)
        try:
            await sleep_until(clock, clock.now() + 120)
            assert fleet["LATER"].profiles_received == [
                (1, csms.dispatcher.order("LATER", 1).profile_id)
            ]
            assert csms.dispatcher.status("LATER", 1)[0].status == DispatchStatus.CONFIRMED
        finally:
            await fleet.stop()
