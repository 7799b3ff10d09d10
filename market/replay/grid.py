"""The scenario's grid: load it, check stations against it (second validation pass), map each
station to its congestion point, and build the DSO's forecaster.

Why a second pass: bus names and congestion points are only known once the network is loaded;
problems found here are reported by path exactly like the static ones, before anything starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from adapters.grid.congestion import CongestionPoint, build_congestion_points, feeder_of_bus
from adapters.grid.forecast import GridForecaster
from adapters.grid.model import CIGRE_LV, GridModel, GridModelError, load_grid
from market.replay.scenario import (
    OPENS_BEFORE_GATE_S,
    Scenario,
    ScenarioError,
    ScenarioProblem,
    load_scenario,
    session_path,
)


@dataclass
class ReplayGrid:
    """The loaded network, its congestion points and where each station connects."""

    model: GridModel
    points: list[CongestionPoint]
    station_bus: dict[str, int]  # station id -> pandapower bus index
    station_point: dict[str, str]  # station id -> congestion point id (feeder, else trafo)

    def forecaster(self, scenario: Scenario) -> GridForecaster:
        g = scenario.grid
        return GridForecaster(
            self.model,
            date=g.profile_date or scenario.period.day,
            load_scale=g.load_scale_ppm / 1_000_000,
            pv_scale=g.pv_scale_ppm / 1_000_000,
            points=self.points,
            flex_buses=sorted(set(self.station_bus.values())),
        )

    def point(self, cp_id: str) -> CongestionPoint:
        return next(p for p in self.points if p.cp_id == cp_id)


def _source(scenario: Scenario) -> str:
    g = scenario.grid
    if g.kind == "cigre_lv":
        return CIGRE_LV
    if g.kind == "pandapower_json":
        return g.file or ""
    return g.code or ""


def load_replay_grid(scenario: Scenario, source_name: str = "<scenario>") -> ReplayGrid:
    """Load the grid and check every station and override against it; raise ScenarioError."""
    grid, problems = grid_pass(scenario)
    if grid is None or problems:
        raise ScenarioError(source_name, problems)
    return grid


def check_scenario(path: str | Path) -> tuple[Scenario, ReplayGrid]:
    """Both validation passes on a file; one ScenarioError lists every problem of both."""
    found: list[ReplayGrid] = []

    def more(scenario: Scenario) -> list[ScenarioProblem]:
        problems = session_pass(scenario)
        grid, grid_problems = grid_pass(scenario)
        problems += grid_problems
        if grid is not None:
            found.append(grid)
        return problems

    scenario = load_scenario(path, more_checks=more)
    return scenario, found[0]


def session_pass(scenario: Scenario) -> list[ScenarioProblem]:
    """The replay runs sessions one after another on one clock: each must open (1 h before
    its gate closure) after the previous one is final (delivery end + grace + challenge)."""
    problems: list[ScenarioProblem] = []
    mk = scenario.market
    order = sorted(enumerate(scenario.sessions), key=lambda x: scenario.at(x[1].gate_closure))
    done_at: int | None = None
    for i, s in order:
        opens = scenario.at(s.gate_closure) - OPENS_BEFORE_GATE_S
        if done_at is not None and opens < done_at:
            problems.append(
                ScenarioProblem(
                    path=f"{session_path(scenario, i)}.gate_closure",
                    reason="the replay runs sessions one after another: this one would open "
                    "before the previous one is final (delivery end + meter grace + "
                    "challenge window)",
                )
            )
        end = scenario.at(s.delivery_end) + mk.meter_grace_s + mk.challenge_window_s
        done_at = end if done_at is None else max(done_at, end)
    return problems


def grid_pass(scenario: Scenario) -> tuple[ReplayGrid | None, list[ScenarioProblem]]:
    """The second pass: the grid loads, stations sit on its buses, overrides match elements."""
    problems: list[ScenarioProblem] = []
    try:
        model = load_grid(_source(scenario))
    except GridModelError as exc:
        field = "grid.file" if scenario.grid.kind == "pandapower_json" else "grid.code"
        return None, [ScenarioProblem(path=field, reason=str(exc))]
    if scenario.grid.buses:
        unknown = sorted(set(scenario.grid.buses) - {str(n) for n in model.net.bus["name"]})
        problems += [
            ScenarioProblem(path="grid.buses", reason=f"no bus named {b!r} in {model.name}")
            for b in unknown
        ]
    net = model.net
    by_name: dict[str, int] = {}
    for idx, name in net.bus["name"].items():
        by_name.setdefault(str(name), int(idx))
    points = build_congestion_points(net, model.name)
    for i, spec in enumerate(scenario.grid.congestion_points):
        kind = "transformer" if spec.element == "transformer" else "feeder"
        matches = [
            j
            for j, p in enumerate(points)
            if p.kind == kind
            and (p.trafo == spec.index if kind == "transformer" else spec.index in p.lines)
        ]
        if not matches:
            problems.append(
                ScenarioProblem(
                    path=f"grid.congestion_points[{i}].index",
                    reason=f"no {spec.element} with index {spec.index} in {model.name}",
                )
            )
            continue
        j = matches[0]
        points[j] = dataclasses.replace(points[j], max_loading_pct=float(spec.limit_pct))
    station_bus: dict[str, int] = {}
    station_point: dict[str, str] = {}
    for i, st in enumerate(scenario.stations):
        bus = by_name.get(st.bus)
        if bus is None:
            problems.append(
                ScenarioProblem(
                    path=f"stations[{i}].bus",
                    reason=f"unknown bus {st.bus!r}: the grid {model.name} has no bus of that name",
                )
            )
            continue
        feeder = feeder_of_bus(points, bus)
        if feeder is None:
            trafo = next((p for p in points if p.kind == "transformer" and bus in p.buses), None)
            if trafo is None:
                problems.append(
                    ScenarioProblem(
                        path=f"stations[{i}].bus",
                        reason=f"bus {st.bus!r} is not on the LV side of any transformer",
                    )
                )
                continue
            feeder = trafo
        station_bus[st.id] = bus
        station_point[st.id] = feeder.cp_id
    return ReplayGrid(model, points, station_bus, station_point), problems
