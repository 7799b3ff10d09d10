"""The intraday schedule (which windows are due, derived ids) and event handling: a followed
session only moves forward, its statements are written once FINAL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from market.dso.config import DsoConfigError, IntradayOpen, parse_config
from market.dso.gateway import DsoGateway, due_windows
from market.dso.grid import DsoGrid
from market.event_stream import MarketEventMessage
from market.participant.participant import Participant

DSO = "0x" + "22" * 20
BASE = {
    "api_url": "http://127.0.0.1:9",
    "rpc_url": "http://127.0.0.1:9",
    "key_env": "DSO_KEY",
    "grid": {"source": "cigre-lv"},
    "congestion_points": [{"code": "CP", "element": "transformer", "index": 0}],
    "budget": {"max_price_per_mwh": 1, "max_budget_units_per_session": 1},
}


def test_due_windows_are_aligned_within_the_horizon_with_stable_ids() -> None:
    spec = IntradayOpen(every_s=3600, delivery_s=3600, horizon_s=7200, min_gate_ahead_s=60)
    now = 1_700_000_000  # 22:13:20 UTC
    due = due_windows(spec, 900, DSO, now)
    starts = [b.delivery_start for b in due]
    assert starts == [1_700_002_800, 1_700_006_400]  # 23:00 and 00:00, both within 2 h
    for b in due:
        assert b.delivery_start % 3600 == 0
        assert b.delivery_start - b.gate_closure == 900
        assert b.delivery_end - b.delivery_start == 3600
        assert b.gate_closure - now >= 60
    # the same windows a minute later: the same ids (a restart does not open twice)
    again = due_windows(spec, 900, DSO, now + 60)
    assert [b.session_id for b in again][: len(due)] == [b.session_id for b in due]
    assert due_windows(spec, 900, "0x" + "33" * 20, now)[0].session_id != due[0].session_id


def test_a_window_whose_gate_is_too_near_is_skipped() -> None:
    spec = IntradayOpen(every_s=3600, delivery_s=3600, horizon_s=5400, min_gate_ahead_s=600)
    now = 3600 * 10 - 900 - 300  # the 10:00 gate closes in 300 s < 600 s
    assert [b.delivery_start for b in due_windows(spec, 900, DSO, now)] == [3600 * 11]


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"intraday_open": {}}, "schedule.intraday_open"),  # intraday not enabled
        (
            {"intraday": True, "intraday_open": {"delivery_s": 1000, "isp_s": 900}},
            "schedule.intraday_open.delivery_s",
        ),
        ({"intraday": True, "intraday_open": {"every_s": 10}}, "schedule.intraday_open.every_s"),
        (  # a horizon shorter than the spacing can hold no window at times
            {"intraday": True, "intraday_open": {"every_s": 3600, "horizon_s": 3600}},
            "schedule.intraday_open.horizon_s",
        ),
    ],
)
def test_bad_intraday_open_is_named(schedule: dict[str, Any], field: str) -> None:
    with pytest.raises(DsoConfigError) as err:
        parse_config({**BASE, "schedule": schedule})
    assert err.value.field == field, err.value


class _Market:
    address = DSO

    def __init__(self) -> None:
        self.asked: list[str] = []

    def statements(self, session_id: str) -> dict[str, Any]:
        self.asked.append(session_id)
        return {"session_id": session_id, "settlements": [{"payout_units": 7}], "netting": None}


def _event(i: int, sid: str, state: str) -> MarketEventMessage:
    return MarketEventMessage(i, "session_state", {"session_id": sid, "state": state})


def test_events_move_a_followed_session_forward_and_final_writes_statements(
    tmp_path: Path,
) -> None:
    cfg = parse_config({**BASE, "output_dir": str(tmp_path)})
    market = _Market()
    logged: list[dict[str, Any]] = []
    gw = DsoGateway(cast(Participant, market), cfg, cast(DsoGrid, None), log=logged.append)
    gw.followed["s1"] = "VERIFIED"
    assert gw.on_event(_event(1, "other", "OPEN")) is True  # a session opened: a pass
    assert gw.on_event(_event(2, "s1", "OPEN")) is True
    assert gw.on_event(_event(3, "s1", "CLEARED")) is False  # replayed: not newer, ignored
    assert logged == [] and gw.followed == {"s1": "VERIFIED"}
    gw.on_event(_event(4, "s1", "FINAL"))
    assert market.asked == ["s1"] and "s1" not in gw.followed
    written = json.loads((tmp_path / "statements" / "s1.json").read_text())
    assert written["settlements"] == [{"payout_units": 7}]
    assert [e["event"] for e in logged] == ["session", "statements"]
    gw.on_event(_event(5, "s1", "FINAL"))  # no longer followed: nothing more
    assert market.asked == ["s1"]


class _WithPrognoses(_Market):
    """The market's public reads the planner uses: this session's FSP prognoses."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.client = self
        self.rows = rows

    def prognoses(self, session_id: str) -> list[dict[str, Any]]:
        return self.rows


def _row(start: int, gate: int) -> dict[str, Any]:
    return {
        "id": "11111111-1111-4111-8111-111111111111",
        "state": "OPEN",
        "delivery_start": start,
        "delivery_end": start + 4 * 900,
        "isp_s": 900,
        "gate_closure": gate,
    }


def test_the_fsps_prognoses_are_in_the_forecast_and_requests_wait_for_request_lead_s() -> None:
    from market.dso.grid import load_dso_grid

    cfg = parse_config(
        {
            **BASE,
            "congestion_points": [
                {"code": "CP", "element": "transformer", "index": 0, "limit_pct": 80}
            ],
            "budget": {"max_price_per_mwh": 250_000_000, "max_budget_units_per_session": 10**12},
            "schedule": {"request_lead_s": 1800},
        }
    )
    grid = load_dso_grid(cfg)
    start = 1_769_040_000
    row = _row(start, start - 3600)
    sid = row["id"]
    prognosis = {
        "prognosis_id": "22222222-2222-4222-8222-222222222222",
        "session_id": sid,
        "fsp": "0x" + "44" * 20,
        "congestion_point": "CP",
        "isps": [{"isp_index": i, "power_w": 60_000} for i in range(4)],
    }
    without = DsoGateway(cast(Participant, _WithPrognoses([])), cfg, grid).plan(row)
    loaded = DsoGateway(cast(Participant, _WithPrognoses([prognosis])), cfg, grid).plan(row)
    need = sum(i.min_power_w for r in without for i in r.isps)
    assert sum(i.min_power_w for r in loaded for i in r.isps) > need > 0
    # the gateway requests only once gate closure is within request_lead_s
    gw = DsoGateway(cast(Participant, _WithPrognoses([])), cfg, grid)
    gw.now = lambda: float(start - 3600 - 1801)
    assert not gw._due(row)
    gw.now = lambda: float(start - 3600 - 1800)
    assert gw._due(row)


class _Refusing(_Market):
    """The market refuses the first statements read (e.g. 503 while restarting)."""

    def statements(self, session_id: str) -> dict[str, Any]:
        if not self.asked:
            self.asked.append("refused")
            from market.participant.errors import ParticipantError

            raise ParticipantError("session_id", "503 restarting", status=503)
        return super().statements(session_id)


def test_statements_that_fail_are_retried_by_the_next_pass(tmp_path: Path) -> None:
    from market.participant.errors import ParticipantError

    cfg = parse_config({**BASE, "output_dir": str(tmp_path)})
    gw = DsoGateway(cast(Participant, _Refusing()), cfg, cast(DsoGrid, None), log=lambda e: None)
    gw.followed["s1"] = "VERIFIED"
    with pytest.raises(ParticipantError):
        gw.state_changed("s1", "FINAL")
    assert gw.followed == {"s1": "VERIFIED"}  # still followed: not lost
    gw.state_changed("s1", "FINAL")  # the next pass (or event) tries again
    assert (tmp_path / "statements" / "s1.json").exists() and "s1" not in gw.followed
