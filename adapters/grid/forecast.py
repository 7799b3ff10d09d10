"""Forecast power flows per ISP, size the flexibility each violation needs, and report the
grid before vs after delivered flexibility.

Sign convention (ARCHITECTURE.md): a flexibility power is positive for UP (less consumption
or more injection at the point) and negative for DOWN (more consumption).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from adapters.grid.congestion import CongestionPoint, build_congestion_points
from adapters.grid.model import ISPS_PER_DAY, GridModel, GridModelError

log = logging.getLogger(__name__)

UP = 1
DOWN = -1
_VOLT_SCALE_PU = 0.01  # 1 % voltage excess counts like 100 % relative overload when sizing
_MAX_NEED_W = 5_000_000
_TOL_W = 50.0

# isp index -> bus -> W of consumption (EV baseline) or of UP flexibility (delivered)
BusPowerByIsp = Mapping[int, Mapping[int, float]]


@dataclass(frozen=True)
class Violation:
    """One limit broken at a congestion point in one ISP."""

    kind: str  # "overload" | "undervoltage" | "overvoltage"
    element: str  # "trafo 0", "line 7", "bus 12"
    value: float  # loading % or vm pu
    limit: float
    direction: int  # UP (+1) relieves it, or DOWN (-1)


@dataclass(frozen=True)
class PointState:
    """Power-flow outcome at a congestion point in one ISP."""

    cp_id: str
    isp: int
    max_loading_pct: float
    min_vm_pu: float
    max_vm_pu: float
    violations: tuple[Violation, ...]
    converged: bool = True
    severity_up: float = 0.0  # worst normalised excess relieved by UP (< 0: margin left)
    severity_down: float = 0.0

    def severity(self, direction: int) -> float:
        """Largest normalised excess (> 0) or smallest margin (<= 0) among the limits that
        ``direction`` relieves; continuous in the injected power, which sizing relies on."""
        if not self.converged:
            return math.inf
        return self.severity_up if direction == UP else self.severity_down


@dataclass(frozen=True)
class FlexNeed:
    """Flexibility a congestion point needs in one ISP to clear its violations."""

    cp_id: str
    isp: int
    power_w: int  # signed: > 0 UP, < 0 DOWN; magnitude rounded up to 100 W
    reason: str
    max_loading_pct: float
    resolved: bool  # False: even the cap of injected flexibility did not clear it


@dataclass(frozen=True)
class ReportRow:
    """Congestion at one point and ISP, before and after delivered flexibility."""

    cp_id: str
    isp: int
    max_loading_pct_before: float
    max_loading_pct_after: float
    min_vm_pu_before: float
    min_vm_pu_after: float
    max_vm_pu_before: float
    max_vm_pu_after: float
    violations_before: int
    violations_after: int


class GridForecaster:
    """Runs the day's power flows on a private copy of a grid.

    ``load_scale`` / ``pv_scale`` multiply the profile loads / PV so scenarios can create
    congestion on purpose. ``flex_buses`` are the buses where the DSO expects flexibility
    (connection points of EVs); needs are sized by injecting power spread over them.
    """

    def __init__(
        self,
        model: GridModel,
        *,
        date: dt.date,
        load_scale: float = 1.0,
        pv_scale: float = 1.0,
        points: list[CongestionPoint] | None = None,
        flex_buses: Iterable[int] | None = None,
    ) -> None:
        if load_scale < 0 or pv_scale < 0:
            raise GridModelError(f"load_scale/pv_scale: must be >= 0, got {load_scale}/{pv_scale}")
        self.model = model
        self.points = points or build_congestion_points(model.net, model.name)
        self.net = model.copy_net()
        self.date = date
        day = model.day(date)
        self._load_p = day.load_p_mw * load_scale
        self._load_q = day.load_q_mvar * load_scale
        self._sgen_p = day.sgen_p_mw * pv_scale
        self._storage_p = day.storage_p_mw
        self._n_base_loads = len(self.net.load)
        lv_buses = sorted({b for cp in self.points for b in cp.buses})
        self._flex_load: dict[int, int] = {}
        for bus in lv_buses:
            self._flex_load[bus] = pp.create_load(self.net, bus=bus, p_mw=0.0, name=f"flex@{bus}")
        self._flex_pos = {bus: self._n_base_loads + i for i, bus in enumerate(lv_buses)}
        self._n_loads = len(self.net.load)
        load_buses = {int(b) for b in model.net.load.bus} | {int(b) for b in model.net.sgen.bus}
        wanted = set(flex_buses) if flex_buses is not None else None
        self._delivery: dict[str, tuple[int, ...]] = {}
        for cp in self.points:
            buses = [
                b for b in cp.buses if (b in wanted if wanted is not None else b in load_buses)
            ]
            self._delivery[cp.cp_id] = tuple(buses or cp.buses)
        self.runs = 0

    def point(self, cp_id: str) -> CongestionPoint:
        for cp in self.points:
            if cp.cp_id == cp_id:
                return cp
        raise GridModelError(f"cp_id: unknown congestion point {cp_id!r}")

    def delivery_buses(self, cp_id: str) -> tuple[int, ...]:
        """Buses over which flexibility at ``cp_id`` is spread when no per-bus detail exists."""
        if cp_id not in self._delivery:
            raise GridModelError(f"cp_id: unknown congestion point {cp_id!r}")
        return self._delivery[cp_id]

    # ------------------------------------------------------------------ power flow
    def run(
        self,
        isp: int,
        consumption_w: Mapping[int, float] | None = None,
        up_w: Mapping[int, float] | None = None,
    ) -> dict[str, PointState]:
        """Power flow of ISP ``isp`` with extra consumption (EV baseline) and UP flexibility
        per bus; returns the state of every congestion point."""
        if not 0 <= isp < ISPS_PER_DAY:
            raise GridModelError(f"isp: must be in [0, {ISPS_PER_DAY}), got {isp}")
        p = np.zeros(self._n_loads)
        p[: self._n_base_loads] = self._load_p[isp]
        q = np.zeros(self._n_loads)
        q[: self._n_base_loads] = self._load_q[isp]
        for what, sign, per_bus in (("consumption_w", 1, consumption_w), ("up_w", -1, up_w)):
            for bus, w in (per_bus or {}).items():
                if bus not in self._flex_pos:
                    raise GridModelError(
                        f"{what}: bus {bus} is not an LV bus of a congestion point"
                    )
                p[self._flex_pos[bus]] += sign * w / 1e6
        self.net.load["p_mw"] = p
        self.net.load["q_mvar"] = q
        if len(self.net.sgen):
            self.net.sgen["p_mw"] = self._sgen_p[isp]
        if len(self.net.storage):
            self.net.storage["p_mw"] = self._storage_p[isp]
        self.runs += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.runpp(self.net, numba=False, init="dc")
        except pp.LoadflowNotConverged:
            return {
                cp.cp_id: PointState(cp.cp_id, isp, math.inf, 0.0, math.inf, (), converged=False)
                for cp in self.points
            }
        return {cp.cp_id: self._state(cp, isp) for cp in self.points}

    def _state(self, cp: CongestionPoint, isp: int) -> PointState:
        net = self.net
        violations: list[Violation] = []
        if cp.kind == "transformer":
            loading = float(net.res_trafo.at[cp.trafo, "loading_percent"])
            direction = UP if float(net.res_trafo.at[cp.trafo, "p_hv_mw"]) >= 0 else DOWN
            if loading > cp.max_loading_pct:
                violations.append(
                    Violation(
                        "overload", f"trafo {cp.trafo}", loading, cp.max_loading_pct, direction
                    )
                )
            vbuses: tuple[int, ...] = (int(net.trafo.at[cp.trafo, "lv_bus"]),)
        else:
            loadings = net.res_line.loading_percent.loc[list(cp.lines)]
            loading = float(loadings.max())
            for li, value in loadings.items():
                if value > cp.max_loading_pct:
                    violations.append(
                        Violation(
                            "overload",
                            f"line {li}",
                            float(value),
                            cp.max_loading_pct,
                            self._line_direction(cp, int(li)),
                        )
                    )
            vbuses = cp.buses
        vm = net.res_bus.vm_pu.loc[list(vbuses)]
        sev = {UP: -math.inf, DOWN: -math.inf}
        if cp.kind == "transformer":
            sev[direction] = loading / cp.max_loading_pct - 1.0
        else:
            for li, value in loadings.items():
                d = self._line_direction(cp, int(li))
                sev[d] = max(sev[d], float(value) / cp.max_loading_pct - 1.0)
        sev[UP] = max(sev[UP], (cp.vm_min_pu - float(vm.min())) / _VOLT_SCALE_PU)
        sev[DOWN] = max(sev[DOWN], (float(vm.max()) - cp.vm_max_pu) / _VOLT_SCALE_PU)
        for bus, value in vm.items():
            if value < cp.vm_min_pu:
                violations.append(
                    Violation("undervoltage", f"bus {bus}", float(value), cp.vm_min_pu, UP)
                )
            elif value > cp.vm_max_pu:
                violations.append(
                    Violation("overvoltage", f"bus {bus}", float(value), cp.vm_max_pu, DOWN)
                )
        return PointState(
            cp.cp_id,
            isp,
            loading,
            float(vm.min()),
            float(vm.max()),
            tuple(violations),
            severity_up=sev[UP],
            severity_down=sev[DOWN],
        )

    def _line_direction(self, cp: CongestionPoint, line: int) -> int:
        """UP when power flows away from the busbar (load below overloads the line)."""
        up_bus = cp.upstream_bus[line]
        from_bus = int(self.net.line.at[line, "from_bus"])
        p_from = float(self.net.res_line.at[line, "p_from_mw"])
        downstream_flow = p_from if from_bus == up_bus else -p_from
        return UP if downstream_flow >= 0 else DOWN

    # ------------------------------------------------------------------ sizing
    def needs(
        self, isps: Iterable[int], ev_load_w: BusPowerByIsp | None = None
    ) -> tuple[list[FlexNeed], dict[int, dict[str, PointState]]]:
        """Flexibility needed per congestion point and ISP, and the forecast states.

        Feeders are sized first; the transformer is then sized on what remains after the
        feeders' flexibility, so a parent never asks again for what its children relieve.
        """
        ev_load_w = ev_load_w or {}
        out: list[FlexNeed] = []
        states: dict[int, dict[str, PointState]] = {}
        order = [cp for cp in self.points if cp.kind == "feeder"] + [
            cp for cp in self.points if cp.kind == "transformer"
        ]
        for isp in isps:
            cons = dict(ev_load_w.get(isp, {}))
            state = self.run(isp, cons)
            states[isp] = state
            relief: dict[int, float] = {}
            for cp in order:
                st = state[cp.cp_id] if not relief else self.run(isp, cons, relief)[cp.cp_id]
                if not st.violations:
                    continue
                direction = st.violations[0].direction
                power, resolved = self._size(isp, cp, direction, cons, relief, st)
                buses = self._delivery[cp.cp_id]
                for bus in buses:
                    relief[bus] = relief.get(bus, 0.0) + direction * power / len(buses)
                out.append(
                    FlexNeed(
                        cp_id=cp.cp_id,
                        isp=isp,
                        power_w=direction * power,
                        reason="; ".join(
                            f"{v.kind} {v.element} {v.value:.3f}>{v.limit}"
                            if v.kind != "undervoltage"
                            else f"{v.kind} {v.element} {v.value:.3f}<{v.limit}"
                            for v in st.violations
                        ),
                        max_loading_pct=st.max_loading_pct,
                        resolved=resolved,
                    )
                )
        return out, states

    def _size(
        self,
        isp: int,
        cp: CongestionPoint,
        direction: int,
        cons: Mapping[int, float],
        relief: Mapping[int, float],
        st0: PointState,
    ) -> tuple[int, bool]:
        """Smallest power (W, multiple of 100) spread over the point's delivery buses that
        clears its ``direction`` violations: secant steps to bracket, then Illinois
        false position on the normalised severity."""
        buses = self._delivery[cp.cp_id]

        def severity(x: float) -> float:
            extra = dict(relief)
            for bus in buses:
                extra[bus] = extra.get(bus, 0.0) + direction * x / len(buses)
            return self.run(isp, cons, extra)[cp.cp_id].severity(direction)

        lo, f_lo = 0.0, st0.severity(direction)
        if f_lo <= 0:
            return 0, True
        # first guess: loading is ~linear in the flow through the point
        hi = min(max(1_000.0, 1.05 * f_lo * self._flow_w(cp)), float(_MAX_NEED_W))
        f_hi = severity(hi)
        while f_hi > 0:
            if hi >= _MAX_NEED_W:
                return _MAX_NEED_W, False
            if math.isfinite(f_hi) and f_lo - f_hi > 1e-9:
                step = (hi - lo) * f_hi / (f_lo - f_hi)
                new = hi + min(max(step * 1.2, 500.0), 4 * hi)
            else:
                new = 2 * hi
            lo, f_lo = hi, f_hi
            hi = min(new, float(_MAX_NEED_W))
            f_hi = severity(hi)
        side = 0
        for _ in range(30):
            if hi - lo <= _TOL_W:
                break
            if math.isfinite(f_lo):
                x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
                x = min(max(x, lo + 0.05 * (hi - lo)), hi - 0.05 * (hi - lo))
            else:
                x = 0.5 * (lo + hi)
            fx = severity(x)
            if fx > 0:
                lo, f_lo = x, fx
                if side == -1:
                    f_hi /= 2
                side = -1
            else:
                hi, f_hi = x, fx
                if side == 1:
                    f_lo /= 2
                side = 1
        return int(math.ceil(hi / 100.0) * 100), True

    def _flow_w(self, cp: CongestionPoint) -> float:
        """Apparent power through the point's most loaded element, for the first guess."""
        if cp.kind == "transformer":
            return abs(float(self.net.res_trafo.at[cp.trafo, "p_hv_mw"])) * 1e6
        res = self.net.res_line.loc[list(cp.lines)]
        li = res.loading_percent.idxmax()
        return abs(float(res.at[li, "p_from_mw"])) * 1e6 or 10_000.0

    # ------------------------------------------------------------------ after delivery
    def spread(
        self, delivered_w_by_cp: Mapping[str, Mapping[int, int]]
    ) -> dict[int, dict[int, float]]:
        """Per-CP delivered UP power (cp -> isp -> W) spread over each point's delivery buses."""
        out: dict[int, dict[int, float]] = {}
        for cp_id, per_isp in delivered_w_by_cp.items():
            buses = self.delivery_buses(cp_id)
            for isp, w in per_isp.items():
                row = out.setdefault(isp, {})
                for bus in buses:
                    row[bus] = row.get(bus, 0.0) + w / len(buses)
        return out

    def before_after(
        self,
        isps: Iterable[int],
        delivered_up_w: BusPowerByIsp,
        ev_load_w: BusPowerByIsp | None = None,
    ) -> list[ReportRow]:
        """Re-run every ISP with the delivered flexibility (UP W per bus) and compare."""
        ev_load_w = ev_load_w or {}
        rows: list[ReportRow] = []
        for isp in isps:
            cons = dict(ev_load_w.get(isp, {}))
            before = self.run(isp, cons)
            after = self.run(isp, cons, dict(delivered_up_w.get(isp, {})))
            for cp in self.points:
                b, a = before[cp.cp_id], after[cp.cp_id]
                rows.append(
                    ReportRow(
                        cp_id=cp.cp_id,
                        isp=isp,
                        max_loading_pct_before=round(b.max_loading_pct, 3),
                        max_loading_pct_after=round(a.max_loading_pct, 3),
                        min_vm_pu_before=round(b.min_vm_pu, 5),
                        min_vm_pu_after=round(a.min_vm_pu, 5),
                        max_vm_pu_before=round(b.max_vm_pu, 5),
                        max_vm_pu_after=round(a.max_vm_pu, 5),
                        violations_before=len(b.violations) if b.converged else -1,
                        violations_after=len(a.violations) if a.converged else -1,
                    )
                )
        return rows
