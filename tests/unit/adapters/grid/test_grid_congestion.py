"""Congestion points: transformer over feeders, disjoint feeders, stable EAN ids."""

from __future__ import annotations

import datetime as dt

import pandapower as pp
import pytest

from adapters.grid.congestion import build_congestion_points, ean18, feeder_of_bus
from adapters.grid.model import CIGRE_LV, GridModelError, load_grid, profile_step


def _check_digit_ok(ean: str) -> bool:
    digits = ean.removeprefix("ean.")
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def test_simbench_points_are_one_transformer_over_three_feeders(simbench):
    points = build_congestion_points(simbench.net, simbench.name)
    trafos = [p for p in points if p.kind == "transformer"]
    feeders = [p for p in points if p.kind == "feeder"]
    assert len(trafos) == 1 and len(feeders) == 3
    assert all(f.parent_id == trafos[0].cp_id for f in feeders)
    bus_sets = [set(f.buses) for f in feeders]
    assert sum(len(b) for b in bus_sets) == len(set().union(*bus_sets))  # disjoint
    busbar = int(simbench.net.trafo.at[0, "lv_bus"])
    assert busbar not in set().union(*bus_sets)
    assert set().union(*bus_sets) | {busbar} == set(trafos[0].buses)
    assert {li for f in feeders for li in f.lines} == set(trafos[0].lines)
    assert {f.max_loading_pct for f in feeders} == {100.0}


def test_ids_are_18_digit_eans_with_valid_check_digit_and_stable(simbench):
    first = build_congestion_points(simbench.net, simbench.name)
    again = build_congestion_points(simbench.net, simbench.name)
    assert [p.cp_id for p in first] == [p.cp_id for p in again]
    for p in first:
        assert p.cp_id.startswith("ean.871685") and len(p.cp_id) == 22
        assert _check_digit_ok(p.cp_id)
    assert ean18("a", "trafo/0") != ean18("b", "trafo/0")


def test_limits_and_band_can_be_overridden(simbench):
    points = build_congestion_points(
        simbench.net, simbench.name, max_loading_pct=80, vm_min_pu=0.95, vm_max_pu=1.04
    )
    assert {(p.max_loading_pct, p.vm_min_pu, p.vm_max_pu) for p in points} == {(80, 0.95, 1.04)}


def test_feeder_of_bus(simbench):
    points = build_congestion_points(simbench.net, simbench.name)
    feeder = next(p for p in points if p.kind == "feeder")
    assert feeder_of_bus(points, feeder.buses[0]) == feeder
    assert feeder_of_bus(points, int(simbench.net.trafo.at[0, "lv_bus"])) is None


def test_cigre_has_three_transformers_and_loads_from_json(tmp_path):
    cigre = load_grid(CIGRE_LV)
    points = build_congestion_points(cigre.net, cigre.name)
    assert sum(p.kind == "transformer" for p in points) == 3
    path = tmp_path / "grid.json"
    pp.to_json(cigre.net, str(path))
    from_json = load_grid(str(path))
    assert len(build_congestion_points(from_json.net, from_json.name)) == len(points)


def test_bad_sources_and_dates_are_named():
    with pytest.raises(GridModelError, match="does not exist"):
        load_grid("/nonexistent/grid.json")
    with pytest.raises(GridModelError, match="isp_index"):
        profile_step(dt.date(2024, 1, 1), 96)
    assert profile_step(dt.date(2023, 1, 2), 3) == 96 + 3
    assert profile_step(dt.date(2024, 12, 31), 95) == 366 * 96 - 1
