"""An FSP's gateway reports its stations' OCPP status (``POST /station-status``, kind
``station_status``): accepted for stations it registered, the latest per station read back;
refused for another's or an unregistered station (403), a station listed twice or a bad field
(422), a bad signature (401), and a party without the FSP role (403)."""

from __future__ import annotations

import json

import pytest
from market_helpers import own_station, setup_market
from sqlmodel import Session, select

from market.api.schemas import StationStatusCreate
from market.client import ApiError
from market.store import models as m
from market.store.models import StationStatusItem

pytestmark = pytest.mark.integration


def _refused(call, status: int, field: str) -> str:
    with pytest.raises(ApiError) as err:
        call()
    assert (err.value.status, err.value.field) == (status, field), err.value.problem
    return str(err.value.problem["detail"])


def _report(*items: StationStatusItem) -> StationStatusCreate:
    return StationStatusCreate(stations=list(items))


def test_an_fsp_reports_its_own_stations_and_the_latest_status_is_shown(
    chain, runtime, clients
) -> None:
    op, fsp_a, fsp_b = clients("operator"), clients("fsp_a"), clients("fsp_b")
    setup_market(op)
    own_station(chain, fsp_a, "fsp_a", "ST-A1")
    own_station(chain, fsp_b, "fsp_b", "ST-B1")
    now = int(runtime.core.clock.now())

    answer = fsp_a.report_station_status(
        _report(StationStatusItem(station_id="ST-A1", connected=True, last_seen_unix=now))
    )
    assert answer == {"fsp": fsp_a.address.lower(), "stations": 1, "reported_at": now}
    fsp_a.report_station_status(
        _report(
            StationStatusItem(
                station_id="ST-A1", connected=False, last_seen_unix=now, setpoint_w=-7_400
            )
        )
    )
    fsp_b.report_station_status(_report(StationStatusItem(station_id="ST-B1", connected=True)))

    (mine,) = fsp_a.station_status(fsp=fsp_a.address)
    assert (mine["station_id"], mine["connected"], mine["setpoint_w"]) == ("ST-A1", False, -7_400)
    assert mine["last_seen_unix"] == now and mine["fsp"] == fsp_a.address.lower()
    assert [(r["station_id"], r["connected"]) for r in op.station_status()] == [
        ("ST-A1", False),
        ("ST-B1", True),
    ]

    # Refusals, each naming the field.
    detail = _refused(
        lambda: fsp_a.report_station_status(
            _report(StationStatusItem(station_id="ST-B1", connected=True))
        ),
        403,
        "body.stations[0].station_id",
    )
    assert "registered no asset at station 'ST-B1'" in detail
    _refused(
        lambda: fsp_a.report_station_status(
            _report(
                StationStatusItem(station_id="ST-A1", connected=True),
                StationStatusItem(station_id="NOT-MINE", connected=True),
            )
        ),
        403,
        "body.stations[1].station_id",
    )
    _refused(
        lambda: fsp_a.report_station_status(
            _report(
                StationStatusItem(station_id="ST-A1", connected=True),
                StationStatusItem(station_id="ST-A1", connected=False),
            )
        ),
        422,
        "body.stations[1].station_id",
    )
    _refused(lambda: op.report_station_status(_report(StationStatusItem(
        station_id="ST-A1", connected=True))), 403, "signer")  # fmt: skip
    bad = {"stations": [{"station_id": "ST-A1", "connected": "yes"}]}
    _refused(lambda: fsp_a.send("/station-status", "station_status", bad), 422,
             "stations.0.connected")  # fmt: skip
    _refused(lambda: fsp_a.send("/station-status", "station_status", {"stations": []}), 422,
             "stations")  # fmt: skip
    oversized = {"stations": [{"station_id": f"S{i}", "connected": True} for i in range(1_001)]}
    _refused(lambda: fsp_a.send("/station-status", "station_status", oversized), 422,
             "stations")  # fmt: skip
    nested: dict = {"connected": True}
    for _ in range(200):
        nested = {"station_id": nested}
    detail = _refused(lambda: fsp_a.send("/station-status", "station_status",
                                         {"stations": [nested]}), 400, "body")  # fmt: skip
    assert "JSON nested" in detail
    envelope = fsp_a.sign(
        "station_status", _report(StationStatusItem(station_id="ST-A1", connected=True))
    )
    envelope["body"]["stations"][0]["connected"] = False  # not what was signed
    with pytest.raises(ApiError) as err:
        fsp_a.send_envelope("/station-status", envelope)
    assert err.value.status == 401
    # Nothing refused was stored: the latest of ST-A1 is still the second report.
    assert fsp_a.station_status(fsp=fsp_a.address)[0]["setpoint_w"] == -7_400
    _refused(lambda: op.station_status(fsp="not-an-address"), 422, "query.fsp")

    # Each accepted report is one market-wide event (the pages redraw on it).
    with Session(runtime.engine) as db:
        events = db.exec(select(m.MarketEvent).where(m.MarketEvent.kind == "station_status")).all()
    assert [(e.session_id, json.loads(e.data_json)["stations"]) for e in events] == [
        ("", ["ST-A1"]),
        ("", ["ST-A1"]),
        ("", ["ST-B1"]),
    ]
