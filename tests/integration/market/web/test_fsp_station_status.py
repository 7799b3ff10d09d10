"""/fsp shows each of the FSP's stations with the OCPP status its gateway reports (signed
``POST /station-status``, what ``market/fsp/station_report.py`` sends): not reported, then
connected with its last seen time and setpoint, then disconnected, redrawn live from the
market's event stream without a reload."""

from __future__ import annotations

import datetime as dt

import pytest
from market_helpers import client_for, make_worker, open_session, own_station, setup_market

from market.api.schemas import ParticipantCreate, StationStatusCreate
from market.store.models import StationStatusItem

pytestmark = pytest.mark.integration


def _utc(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def test_fsp_page_shows_its_stations_ocpp_status_live(live_web, chain, runtime, server) -> None:
    op = client_for(server, chain, "operator", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    fsp.register_participant(ParticipantCreate(name="EMSP A"))
    for station in ("CS-1", "CS-2"):
        own_station(chain, fsp, "fsp_a", station)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    me = fsp.address.lower()

    page = live_web.page
    live_web.open(f"/fsp?fsp={me}&session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.wait_for_selector("#live.ok")
    rows = page.locator("#stations-table tbody tr")
    assert rows.count() == 2
    assert "not reported" in rows.nth(0).inner_text()

    seen = int(runtime.core.clock.now())
    fsp.report_station_status(
        StationStatusCreate(
            stations=[
                StationStatusItem(
                    station_id="CS-1", connected=True, last_seen_unix=seen, setpoint_w=7_400
                ),
                StationStatusItem(station_id="CS-2", connected=False),
            ]
        )
    )
    page.wait_for_selector("#stations-table tbody tr:first-child td.ok")  # live, no reload
    first = rows.nth(0).inner_text()
    assert "connected" in first and _utc(seen) in first and "7400 W" in first
    second = rows.nth(1).inner_text()
    assert "disconnected" in second and "never" in second and "none" in second
    live_web.screenshot("fsp-stations")

    fsp.report_station_status(
        StationStatusCreate(
            stations=[StationStatusItem(station_id="CS-1", connected=False, last_seen_unix=seen)]
        )
    )
    page.wait_for_selector("#stations-table tbody tr:first-child td.bad")
    assert _utc(seen) in rows.nth(0).inner_text()  # when it was last there
    live_web.assert_clean()
