"""Forecast power flows on the SimBench LV grid: known overloads become needs at the right
points and ISPs, the sized needs clear them (and are tight), quiet days ask for nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.grid.forecast import GridForecaster
from adapters.grid.model import CIGRE_LV, GridModelError, load_grid

WINTER_PEAK = dt.date(2016, 1, 22)  # highest total load of the SimBench year
PV_PEAK = dt.date(2016, 5, 26)  # highest net export of the year


def _feeder(fc: GridForecaster, head_name: str):
    return next(p for p in fc.points if p.kind == "feeder" and p.name.endswith(head_name))


def _apply(fc: GridForecaster, needs, shave_w: int = 0) -> dict[int, dict[int, float]]:
    """Per-bus UP power of every need (optionally ``shave_w`` smaller in magnitude)."""
    total: dict[int, dict[int, float]] = {}
    for n in needs:
        w = n.power_w - shave_w if n.power_w > 0 else n.power_w + shave_w
        for isp, row in fc.spread({n.cp_id: {n.isp: w}}).items():
            for bus, v in row.items():
                total.setdefault(isp, {})[bus] = total.setdefault(isp, {}).get(bus, 0.0) + v
    return total


def test_winter_peak_at_triple_load_overloads_feeder_34_from_late_morning(simbench):
    fc = GridForecaster(simbench, date=WINTER_PEAK, load_scale=3.0)
    needs, states = fc.needs(range(44, 56))
    feeder = _feeder(fc, "Line 34")
    assert {n.cp_id for n in needs} == {feeder.cp_id}
    assert all(n.power_w > 0 and n.resolved for n in needs)  # load overload -> UP
    assert sorted(n.isp for n in needs) == [44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55]
    assert all("overload line" in n.reason for n in needs)
    violating = sorted(isp for isp, st in states.items() if st[feeder.cp_id].violations)
    assert violating == sorted(n.isp for n in needs)
    biggest = max(needs, key=lambda n: n.power_w)
    assert biggest.isp == 52 and 30_000 < biggest.power_w < 45_000

    rows = fc.before_after(sorted(states), _apply(fc, needs))
    assert sum(r.violations_before for r in rows) == len(needs)
    assert all(r.violations_after == 0 for r in rows)
    assert max(r.max_loading_pct_after for r in rows if r.cp_id == feeder.cp_id) <= 100.0

    # sized from the power flow, not guessed: 200 W less leaves every overload in place
    tight = [n for n in needs if n.power_w > 300]
    shaved = fc.before_after(sorted({n.isp for n in tight}), _apply(fc, tight, shave_w=200))
    assert all(r.violations_after > 0 for r in shaved if r.cp_id == feeder.cp_id)


def test_pv_peak_at_double_pv_asks_down_for_reverse_flow(simbench):
    fc = GridForecaster(simbench, date=PV_PEAK, pv_scale=2.0)
    needs, _ = fc.needs(range(40, 50))
    feeder = _feeder(fc, "Line 34")
    assert {n.cp_id for n in needs} == {feeder.cp_id}
    assert sorted(n.isp for n in needs) == list(range(40, 50))
    assert all(n.power_w < 0 for n in needs)
    rows = fc.before_after(range(40, 50), _apply(fc, needs))
    assert all(r.violations_after == 0 for r in rows)


def test_quadruple_load_sizes_feeders_first_then_the_transformer_residual(simbench):
    fc = GridForecaster(simbench, date=WINTER_PEAK, load_scale=4.0)
    needs, _ = fc.needs([40])
    kinds = {fc.point(n.cp_id).kind for n in needs}
    assert kinds == {"feeder", "transformer"}
    assert {fc.point(n.cp_id).name for n in needs if fc.point(n.cp_id).kind == "feeder"} == {
        "feeder LV4.101 Line 33",
        "feeder LV4.101 Line 34",
    }
    trafo_need = next(n for n in needs if fc.point(n.cp_id).kind == "transformer")
    assert trafo_need.power_w > 0
    rows = fc.before_after([40], _apply(fc, needs))
    assert all(r.violations_after == 0 for r in rows)


def test_a_day_without_violations_asks_for_nothing(simbench):
    fc = GridForecaster(simbench, date=WINTER_PEAK)
    needs, states = fc.needs(range(96))
    assert needs == []
    assert max(s.max_loading_pct for st in states.values() for s in st.values()) < 50


def test_ev_baseline_at_buses_creates_the_congestion(simbench):
    fc = GridForecaster(simbench, date=WINTER_PEAK, load_scale=2.5)
    feeder = _feeder(fc, "Line 34")
    assert fc.needs([52])[0] == []
    ev_load = {52: dict.fromkeys(feeder.buses[:4], 11_000)}
    needs, _ = fc.needs([52], ev_load)
    assert [(n.cp_id, n.isp) for n in needs] == [(feeder.cp_id, 52)]
    assert needs[0].power_w > 0


def test_flex_buses_choose_where_needs_are_sized(simbench):
    base = GridForecaster(simbench, date=WINTER_PEAK, load_scale=3.0)
    feeder = _feeder(base, "Line 34")
    fc = GridForecaster(
        simbench, date=WINTER_PEAK, load_scale=3.0, flex_buses=feeder.buses[:2], points=base.points
    )
    assert fc.delivery_buses(feeder.cp_id) == feeder.buses[:2]
    needs, _ = fc.needs([52])
    rows = fc.before_after([52], _apply(fc, needs))
    assert all(r.violations_after == 0 for r in rows)


def test_cigre_static_loads_scaled_overload_transformers():
    fc = GridForecaster(load_grid(CIGRE_LV), date=WINTER_PEAK, load_scale=1.4)
    needs, _ = fc.needs([0])
    trafo_needs = [n for n in needs if fc.point(n.cp_id).kind == "transformer"]
    assert any("overload trafo" in n.reason for n in trafo_needs)
    assert all(n.power_w > 0 for n in needs)  # overload and undervoltage: both UP
    rows = fc.before_after([0], _apply(fc, needs))
    assert all(r.violations_after == 0 for r in rows)


def test_invalid_inputs_are_named(simbench):
    with pytest.raises(GridModelError, match="load_scale"):
        GridForecaster(simbench, date=WINTER_PEAK, load_scale=-1)
    fc = GridForecaster(simbench, date=WINTER_PEAK)
    with pytest.raises(GridModelError, match="isp"):
        fc.run(96)
    with pytest.raises(GridModelError, match="cp_id"):
        fc.point("ean.000")
    with pytest.raises(GridModelError, match="cp_id"):
        fc.spread({"ean.000": {40: 1_000}})
    with pytest.raises(GridModelError, match="consumption_w: bus 0"):
        fc.run(40, {0: 1_000})  # bus 0 is the MV side of the transformer
