"""bench intraday's pieces: the requests it posts as the DSO (every gateway can offer on
each), the worker's clear-step timings read back, and a plain failure for each shortfall."""

from __future__ import annotations

from pathlib import Path

from market.lifecycle.steps import CLEAR_TIMES, CLOSE_TIMES
from market.live.bench import write_scenario
from market.live.bench_intraday import (
    GOAL_S,
    bench_requests,
    load_offers,
    scenario,
    shared_points,
    summary,
)
from market.replay.grid import check_scenario

SID = "00000000-0000-4000-8000-000000000001"


def test_one_request_per_point_every_fsp_is_at_and_load_offers_on_them(tmp_path: Path) -> None:
    doc = scenario(fsps=2, stations=10, offers=250)
    sc, grid = check_scenario(write_scenario(tmp_path, doc))
    loads = [p.id for p in sc.participants if p.id.startswith("load-")]
    assert loads == ["load-1", "load-2", "load-3"]  # one per 100 offers; they have no EV
    assert not {e.fsp for e in sc.evs} & set(loads)
    points = shared_points(sc, grid)
    fsp_at = {e.station: e.fsp for e in sc.evs}
    for cp in points:
        assert {fsp_at[st] for st, c in grid.station_point.items() if c == cp} == {"fsp-1", "fsp-2"}
    reqs = bench_requests(sc, SID, points)
    assert [r.congestion_point for r in reqs] == points  # the market: one per point, direction
    (spec,) = sc.sessions
    assert sc.at(spec.delivery_start) - sc.at(spec.gate_closure) == 15 * 60  # intraday
    for r in reqs:
        (isp,) = r.isps
        assert r.direction == "UP" and r.expires_at == sc.at(spec.gate_closure)
        assert 0 <= isp.isp_index < 4 and isp.min_power_w <= isp.max_power_w
        # the escrow covers the most the request can cost: max power for one ISP at max price
        assert r.budget_units * 1_000_000 >= isp.max_power_w * 900 // 3600 * r.max_price_per_mwh
    assert bench_requests(sc, SID, points) == reqs  # seeded: the same ids every run
    offers = load_offers(sc, "load-1", "0x" + "11" * 20, reqs, 7)
    assert len({o.offer_id for o in offers}) == 7
    for o in offers:
        req = next(r for r in reqs if r.request_id == o.request_id)
        (option,) = o.options
        assert o.congestion_point == req.congestion_point and o.direction == req.direction
        assert option.isps[0].isp_index == req.isps[0].isp_index
        assert option.price_per_mwh <= req.max_price_per_mwh


def test_close_and_clear_step_details_carry_the_workers_timings() -> None:
    detail = (
        "postClearing tx 0xab: 12 orders; input 0.400 s, solve 0.700 s; "
        "clearing 1.250 s, post 0.031 s"
    )
    found = CLEAR_TIMES.search(detail)
    assert found and found.groupdict() == {
        "input_s": "0.400",
        "solve_s": "0.700",
        "clearing_s": "1.250",
        "post_s": "0.031",
    }
    found = CLOSE_TIMES.search(
        "1000 offers included; closeSession tx 0xcd; roots read 0.020 s; "
        "receipts 0.310 s, close 0.052 s"
    )
    assert found and found.groupdict() == {
        "roots_read_s": "0.020",
        "receipts_s": "0.310",
        "close_tx_s": "0.052",
    }


def _summary(per_fsp: dict[str, float], **kw: int) -> dict[str, object]:
    args = {"offers_wanted": 10, "offers": 10, "orders": 5, "expected_fsps": 2} | kw
    return summary(per_fsp, fsps=2, stations=10, requests=5, phases={"close_s": 0.2}, **args)


def test_summary_passes_within_the_goal_and_names_each_shortfall() -> None:
    ok = _summary({"a": 1.0, "b": 2.0})
    assert "failure" not in ok and ok["p50_s"] == 1.0 and ok["max_s"] == 2.0
    assert ok["goal_met"] is True and ok["goal_s"] == GOAL_S
    assert _summary({"a": 1.0, "b": GOAL_S + 0.5})["goal_met"] is False
    assert "offers" in str(_summary({"a": 1.0, "b": 2.0}, offers=9)["failure"])
    assert "no order" in str(_summary({}, orders=0)["failure"])
    assert "1 of 2 FSP gateways" in str(_summary({"a": 1.0})["failure"])
    late = _summary({"a": 1.0, "b": GOAL_S + 0.5})["failure"]
    assert "goal" in str(late) and str(GOAL_S + 0.5) in str(late)
