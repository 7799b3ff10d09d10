"""DSO agent on the SimBench grid: requests sized from the power flow, budgets, report."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from adapters.grid.forecast import GridForecaster
from adapters.grid.model import load_grid
from market.agents.common import MarketSession
from market.agents.dso import DsoAgent, DsoAgentError, DsoConfig

WINTER = dt.date(2016, 1, 22)
SID = str(uuid.UUID(int=3))


def session(hour: int, n: int) -> MarketSession:
    start = int(dt.datetime(2026, 1, 22, hour, tzinfo=dt.UTC).timestamp())
    return MarketSession(session_id=SID, start_unix=start, n_isps=n, gate_closure_unix=start - 900)


@pytest.fixture(scope="module")
def winter_x3() -> GridForecaster:
    return GridForecaster(load_grid(), date=WINTER, load_scale=3.0)


def test_requests_carry_the_sized_needs_at_the_right_point_and_isps(winter_x3):
    config = DsoConfig(max_price_per_mwh=300_000_000, headroom_pct=20)
    dso = DsoAgent(forecaster=winter_x3, session=session(11, 12), config=config)
    assert dso.first_isp == 44
    (req,) = dso.requests()
    feeder = winter_x3.point(req.congestion_point)
    assert feeder.kind == "feeder" and feeder.name.endswith("Line 34")
    assert req.direction == "UP" and req.session_id == SID
    assert req.expires_at == dso.session.gate_closure_unix
    needs = {n.isp - 44: n.power_w for n in dso.needs}
    assert [i.isp_index for i in req.isps] == sorted(needs) == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    for item in req.isps:
        assert item.disposition == "Requested"
        assert item.min_power_w == needs[item.isp_index]
        assert item.max_power_w == item.min_power_w + -(-item.min_power_w * 20 // 100)
    energy_wh = -(-sum(needs.values()) * 900 // 3600)
    assert req.budget_units == -(-energy_wh * 300_000_000 // 1_000_000)
    assert req.max_price_per_mwh == 300_000_000
    assert dso.requests()[0].request_id == req.request_id  # replays re-send the same id


def test_report_before_vs_after_the_ordered_flexibility(winter_x3):
    dso = DsoAgent(forecaster=winter_x3, session=session(12, 4))
    (req,) = dso.requests()
    delivered = {req.congestion_point: {44 + 4 + i.isp_index: i.min_power_w for i in req.isps}}
    rows = dso.report(delivered)
    mine = [r for r in rows if r.cp_id == req.congestion_point]
    assert {r.isp for r in mine} == {48, 49, 51}
    assert all(r.violations_before > 0 and r.violations_after == 0 for r in mine)
    assert all(r.max_loading_pct_after <= 100 < r.max_loading_pct_before for r in mine)


def test_no_violation_no_request():
    fc = GridForecaster(load_grid(), date=WINTER)
    assert DsoAgent(forecaster=fc, session=session(16, 16)).requests() == []


def test_pv_surplus_gives_a_down_request():
    fc = GridForecaster(load_grid(), date=dt.date(2016, 5, 26), pv_scale=2.0)
    (req,) = DsoAgent(forecaster=fc, session=session(11, 2)).requests()
    assert req.direction == "DOWN" and len(req.isps) == 2


def test_session_must_fit_the_profile_day(winter_x3):
    with pytest.raises(DsoAgentError, match="leave the day"):
        DsoAgent(forecaster=winter_x3, session=session(23, 8))


def test_needs_flexibility_cannot_clear_are_kept_out_of_requests(winter_x3, monkeypatch):
    import adapters.grid.forecast as forecast

    monkeypatch.setattr(forecast, "_MAX_NEED_W", 1_000)  # pretend little can be injected
    dso = DsoAgent(forecaster=winter_x3, session=session(13, 1))
    assert dso.requests() == []
    assert [(n.isp, n.resolved) for n in dso.unresolved] == [(52, False)]
