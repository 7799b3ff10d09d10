"""The FSP's linear programs (PuLP + HiGHS): flexibility envelope, offer blocks, and the
disaggregation of an order into per-EVSE schedules.

Deviation sign: ``+`` = UP (the portfolio consumes less than its baseline), ``-`` = DOWN.
All three LPs share one EV model (:func:`_build`), so whatever the envelope or an offer
promises is exactly what the disaggregation can deliver. Powers leave this module as whole
watts rounded toward "promise less" (floor of magnitudes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pulp

from market.agents.fleet import EvFrame, Horizon

_EPS = 1e-6
_W_SHORTFALL = 1.0  # per W of ordered power missed
_W_SOC = 1_000.0  # per Wh of a departure/booking SoC missed: mobility first
_W_DISCHARGE = 1e-3  # per W discharged: avoid cycling the battery needlessly
_W_BASELINE = 1e-4  # per W away from baseline: stay close to the D-prognosis


class InfeasibleProblem(RuntimeError):
    """The LP has no solution (only raised where the model should always be feasible)."""


@dataclass
class _Model:
    prob: pulp.LpProblem
    frames: list[EvFrame]
    p: list[list[pulp.LpAffineExpression | float]]  # power per EV per ISP (W)
    soc: list[list[pulp.LpVariable | float]]
    slack: list[tuple[int, str, pulp.LpVariable]] = field(default_factory=list)

    def deviation(self, k: int) -> pulp.LpAffineExpression:
        """UP deviation (baseline minus power) of all modelled EVs in ISP ``k``."""
        return pulp.lpSum(f.baseline_w[k] - self.p[i][k] for i, f in enumerate(self.frames))


def _build(frames: Sequence[EvFrame], horizon: Horizon, name: str, soft: bool) -> _Model:
    """EV power and SoC variables with their limits; SoC requirements hard or soft."""
    prob = pulp.LpProblem(name, pulp.LpMaximize)
    h = horizon.isp_h
    n = horizon.n_isps
    model = _Model(prob=prob, frames=list(frames), p=[], soc=[])
    for i, f in enumerate(frames):
        powers: list[pulp.LpAffineExpression | float] = []
        for k in range(n):
            if f.plugged[k] and f.p_max[k] > f.p_min[k]:
                powers.append(prob.add_variable(f"p_{i}_{k}", f.p_min[k], f.p_max[k]))
            else:
                powers.append(0.0)
        socs: list[pulp.LpVariable | float] = [f.soc0]
        for k in range(n):
            if k + 1 in f.resets:
                socs.append(f.resets[k + 1])
                continue
            if isinstance(powers[k], float) and isinstance(socs[k], float):
                socs.append(socs[k])
                continue
            lo = min(f.s_min, f.baseline_soc[k + 1])
            hi = max(f.s_max, f.baseline_soc[k + 1])
            var = prob.add_variable(f"s_{i}_{k + 1}", lo, hi)
            prob += var == socs[k] + h * powers[k], f"soc_{i}_{k + 1}"
            socs.append(var)
        for r_idx, req in enumerate(f.requirements):
            s = socs[req.index]
            if soft:
                slack = prob.add_variable(f"miss_{i}_{r_idx}", 0)
                model.slack.append((i, req.label, slack))
                prob += s + slack >= req.soc_wh, f"req_{i}_{r_idx}"
            elif isinstance(s, float):
                if s + 1e-6 < req.soc_wh:
                    raise InfeasibleProblem(f"EV {f.ev.ev_id}: {req.label} fixed below target")
            else:
                prob += s >= req.soc_wh, f"req_{i}_{r_idx}"
        model.p.append(powers)
        model.soc.append(socs)
    return model


def _solve(model: _Model) -> None:
    """Solve the model's LP as ``prob.solve(HiGHS)`` would and set every variable's value.

    The LP goes to HiGHS in one piece (:class:`_ReusedLp`) instead of PuLP's column-by-column
    and row-by-row calls: the same columns, rows, costs and options, so HiGHS solves the same
    model, in a fraction of the Python time."""
    prob = model.prob
    was_none, dummy = prob.fixObjective()  # PuLP's dummy column for a constant objective
    try:
        _ReusedLp(prob).solve()
    finally:
        prob.restoreObjective(was_none, dummy)


def _value(x: pulp.LpAffineExpression | float) -> float:
    return float(x) if isinstance(x, (int, float)) else float(pulp.value(x) or 0.0)


def _floor_w(x: float) -> int:
    """Whole watts, never above what the LP found (a hair of solver noise is removed)."""
    nearest = round(x)
    return max(0, nearest if abs(x - nearest) < _EPS else math.floor(x))


# --------------------------------------------------------------------------- envelope
@dataclass(frozen=True)
class Envelope:
    """Max UP and DOWN deviation (W, >= 0) the EVs can hold in each ISP on its own,
    with every SoC / departure / booking limit kept and the rebound placed elsewhere."""

    congestion_point: str
    up_w: dict[int, int]
    down_w: dict[int, int]


def envelope(
    frames: Sequence[EvFrame], horizon: Horizon, isps: Iterable[int], congestion_point: str = ""
) -> Envelope:
    """One LP per ISP and direction over the whole horizon (so rebound is accounted)."""
    isps = sorted(set(isps))
    up: dict[int, int] = {}
    down: dict[int, int] = {}
    if not frames:
        return Envelope(congestion_point, dict.fromkeys(isps, 0), dict.fromkeys(isps, 0))
    model = _build(frames, horizon, "envelope", soft=False)
    powers = [p for row in model.p for p in row if isinstance(p, pulp.LpVariable)]
    lp = _ReusedLp(model.prob, powers)  # the constraints stay; only the objective changes
    for k in isps:
        dev = model.deviation(k)
        for sign, out in ((1, up), (-1, down)):
            out[k] = _floor_w(lp.maximize(sign * dev))  # = sign * value(dev), exactly
    return Envelope(congestion_point, up, down)


class _ReusedLp:
    """An LP passed to HiGHS once and re-solved for one objective after another.

    Why: the envelope solves two LPs per requested ISP over the same EV constraints (a 1 000-EV
    stress day: thousands of solves of ~20 000 columns). Through PuLP each solve rebuilds the
    whole HiGHS model column by column in Python and HiGHS starts from nothing; that was most
    of the replay's open phase. Here the model is passed once, and each solve starts from the
    previous optimal basis (a warm start): only the costs move, so that basis stays feasible
    and a few simplex pivots reach the new optimum. The envelope reads the optimum's value
    alone, which is the same whichever optimal vertex is found. Columns, rows and the sign of
    the costs are laid out as PuLP lays them, so the first solve is PuLP's own.
    """

    def __init__(self, prob: pulp.LpProblem, extra: Iterable[pulp.LpVariable] = ()) -> None:
        """``prob``'s columns in PuLP's order (sorted by name), with ``extra`` ones no
        constraint holds yet (a power in an ISP whose end resets the SoC) that a later
        objective names; PuLP would add them once an objective does."""
        import highspy
        import numpy as np

        from clearing.solvers.highs_api import new_highs

        self._prob = prob
        by_name = {v.name: v for v in prob.variables()}
        by_name.update((v.name, v) for v in extra)
        columns = [by_name[name] for name in sorted(by_name)]
        self._columns = columns
        self._column = {v.name: j for j, v in enumerate(columns)}
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = len(columns)
        lp.col_cost_ = np.zeros(len(columns))
        lp.col_lower_ = np.array([-inf if v.lowBound is None else v.lowBound for v in columns])
        lp.col_upper_ = np.array([inf if v.upBound is None else v.upBound for v in columns])
        lower, upper, starts, index, value = [], [], [0], [], []
        for row in prob.constraints():  # insertion order, as PuLP passes rows
            for var, coefficient in row.items():
                if coefficient != 0:
                    index.append(self._column[var.name])
                    value.append(coefficient)
            starts.append(len(index))
            lb, ub = row.getLb(), row.getUb()
            lower.append(-inf if lb is None else lb)
            upper.append(inf if ub is None else ub)
        lp.num_row_ = len(lower)
        lp.row_lower_, lp.row_upper_ = np.array(lower), np.array(upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(columns), len(lower)
        self._h = new_highs()
        self._h.setOptionValue("output_flag", False)
        self._h.passModel(lp)
        self._all = np.arange(len(columns), dtype=np.int32)
        self._np = np
        self._optimal = highspy.HighsModelStatus.kOptimal

    def maximize(self, objective: pulp.LpAffineExpression) -> float:
        """The largest value of ``objective`` under the constraints (summed as PuLP sums it)."""
        x = self._run(objective, sign=-1)  # PuLP minimises the negated objective
        total = float(objective.constant)
        for var, coefficient in objective.items():
            total += x[self._column[var.name]] * coefficient
        return total

    def solve(self) -> None:
        """Optimise the problem's own objective and sense; every column's ``varValue`` is set,
        as ``prob.solve`` sets it."""
        prob = self._prob
        x = self._run(prob.objective, sign=-1 if prob.sense == pulp.LpMaximize else 1)
        for var, value in zip(self._columns, x, strict=True):
            var.varValue = value

    def _run(self, objective: pulp.LpAffineExpression, sign: int) -> list[float]:
        costs = self._np.zeros(len(self._all))
        for var, coefficient in objective.items():
            costs[self._column[var.name]] = sign * coefficient
        self._h.changeColsCost(len(self._all), self._all, costs)
        self._h.run()
        status = self._h.getModelStatus()
        if status != self._optimal:
            raise InfeasibleProblem(
                f"{self._prob.name}: solver status {self._h.modelStatusToString(status)}"
            )
        return list(self._h.getSolution().col_value)


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class BlockOption:
    """A jointly feasible block: per-ISP deviation magnitude (W) in ``direction`` (+1 UP,
    -1 DOWN), the rebound it causes elsewhere, and the energy it makes the EVs discharge."""

    shape: str
    direction: int
    power_w: dict[int, int]
    rebound_w: dict[int, int]
    discharge_wh: int


def best_block(
    frames: Sequence[EvFrame],
    horizon: Horizon,
    direction: int,
    shape: str,
    caps_w: Mapping[int, int],
    level_cap_w: int | None = None,
) -> BlockOption | None:
    """Largest block of ``shape`` the EVs can hold jointly over the ISPs of ``caps_w``.

    ``flat``: one power in every ISP (at most the smallest cap and ``level_cap_w``);
    ``shaped``: most energy with each ISP at most its cap. None when the block is empty.
    """
    isps = sorted(caps_w)
    if not frames or not isps:
        return None
    model = _build(frames, horizon, f"block_{shape}", soft=False)
    devs = {k: direction * model.deviation(k) for k in isps}
    if shape == "flat":
        top = min(caps_w.values()) if level_cap_w is None else min(level_cap_w, *caps_w.values())
        level = model.prob.add_variable("level", 0, top)
        for k in isps:
            model.prob += devs[k] == level, f"flat_{k}"
        model.prob.setObjective(level)
    elif shape == "shaped":
        for k in isps:
            model.prob += devs[k] >= 0, f"pos_{k}"
            model.prob += devs[k] <= caps_w[k], f"cap_{k}"
        model.prob.setObjective(pulp.lpSum(devs.values()))
    else:
        raise ValueError(f"shape: unknown block shape {shape!r}")
    model.prob.sense = pulp.LpMaximize
    _solve(model)
    # second pass: same block size, least battery cycling (this is what gets priced)
    best = _value(model.prob.objective)
    model.prob += model.prob.objective >= best - _EPS * max(1.0, abs(best)), "keep_best"
    cycling = []
    for i, f in enumerate(model.frames):
        for k, p in enumerate(model.p[i]):
            if not isinstance(p, float) and f.p_min[k] < 0:
                dis = model.prob.add_variable(f"dis_{i}_{k}", 0)
                model.prob += dis >= -p, f"dis_{i}_{k}"
                cycling.append(dis)
    if cycling:
        model.prob.setObjective(pulp.lpSum(cycling))
        model.prob.sense = pulp.LpMinimize
        _solve(model)
    power = {k: _floor_w(_value(devs[k])) for k in isps}
    if shape == "flat":
        level_w = min(power.values())
        power = dict.fromkeys(isps, level_w)
    if all(v == 0 for v in power.values()):
        return None
    rebound: dict[int, int] = {}
    for k in range(horizon.n_isps):
        if k in caps_w:
            continue
        opposite = -direction * _value(model.deviation(k))
        if opposite >= 1:
            rebound[k] = math.floor(opposite)
    discharge = sum(max(0.0, -_value(p)) * horizon.isp_h for powers in model.p for p in powers)
    return BlockOption(shape, direction, power, rebound, math.ceil(discharge))


# --------------------------------------------------------------------------- disaggregation
class Setpoint(NamedTuple):
    """One ISP of an EVSE schedule: a plain tuple for the OCPP dispatcher, with the same
    attribute names as its ``IspSetpoint`` (negative power = discharge)."""

    start_unix: int
    duration_s: int
    power_w: int


Schedules = dict[tuple[str, int], list[Setpoint]]


@dataclass(frozen=True)
class Shortfall:
    """Ordered deviation not delivered in one ISP, with its cause."""

    isp: int
    ordered_w: int  # signed (+ UP)
    delivered_w: int
    cause: str


@dataclass(frozen=True)
class RequirementMiss:
    """A departure or booking SoC that even the disaggregation could not reach."""

    ev_id: str
    constraint: str
    missing_wh: int


@dataclass
class Disaggregation:
    """Per-EV integer schedules meeting an order as closely as the EVs allow."""

    horizon: Horizon
    power_w: dict[str, list[int]]  # ev_id -> W per ISP (negative = discharge)
    soc_wh: dict[str, list[float]]  # ev_id -> SoC at each ISP boundary (n+1)
    delivered_w: dict[int, int]  # signed deviation delivered per ordered ISP
    shortfalls: list[Shortfall]
    misses: list[RequirementMiss]
    evse: dict[str, tuple[str, int]]

    def schedules(self) -> Schedules:
        """``{(station_id, evse_id): [(start_unix, duration_s, power_w), ...]}`` for the OCPP
        dispatcher: one period per ISP in which the EV is scheduled."""
        out: Schedules = {}
        h = self.horizon
        for ev_id, powers in self.power_w.items():
            periods = out.setdefault(self.evse[ev_id], [])
            periods.extend(Setpoint(h.isp_start(k), h.isp_s, p) for k, p in enumerate(powers))
            periods.sort()
        return out


def disaggregate(
    frames: Sequence[EvFrame],
    horizon: Horizon,
    ordered_w: Mapping[int, int],
    *,
    missing_causes: Sequence[str] = (),
) -> Disaggregation:
    """Split a signed ordered deviation per ISP (``+`` UP) over the EVs by LP.

    SoC requirements are soft with a high penalty, the ordered power is soft with a lower
    one: when the fleet changed (an EV left) the LP still returns the best physical schedule
    and the gaps are recorded (``missing_causes`` name what changed since bidding).
    """
    n = horizon.n_isps
    frames = list(frames)
    model = _build(frames, horizon, "disaggregate", soft=True)
    prob = model.prob
    cost: list[pulp.LpAffineExpression] = []
    for k, target in sorted(ordered_w.items()):
        over = prob.add_variable(f"over_{k}", 0)
        under = prob.add_variable(f"under_{k}", 0)
        prob += model.deviation(k) - target == over - under, f"order_{k}"
        cost.append(_W_SHORTFALL * (over + under))
    for i, f in enumerate(frames):
        for k in range(n):
            p = model.p[i][k]
            if isinstance(p, float):
                continue
            if f.p_min[k] < 0:
                dis = prob.add_variable(f"dis_{i}_{k}", 0)
                prob += dis >= -p, f"dis_{i}_{k}"
                cost.append(_W_DISCHARGE * dis)
            dev = prob.add_variable(f"dev_{i}_{k}", 0)
            prob += dev >= p - f.baseline_w[k], f"devp_{i}_{k}"
            prob += dev >= f.baseline_w[k] - p, f"devm_{i}_{k}"
            cost.append(_W_BASELINE * dev)
    cost.extend(_W_SOC * s for _, _, s in model.slack)
    prob.setObjective(pulp.lpSum(cost))
    prob.sense = pulp.LpMinimize
    if frames:
        _solve(model)
    lp_power = [[_value(p) for p in powers] for powers in model.p]
    ints = _round_schedules(frames, horizon, lp_power)
    power_w = {f.ev.ev_id: ints[i] for i, f in enumerate(frames)}
    soc_wh: dict[str, list[float]] = {}
    for i, f in enumerate(frames):
        soc = [f.soc0]
        for k in range(n):
            soc.append(f.resets.get(k + 1, soc[-1] + ints[i][k] * horizon.isp_h))
        soc_wh[f.ev.ev_id] = soc
    delivered: dict[int, int] = {}
    shortfalls: list[Shortfall] = []
    cause = "; ".join(missing_causes) or "EV power/SoC limits"
    for k, target in sorted(ordered_w.items()):
        got = sum(f.baseline_w[k] - ints[i][k] for i, f in enumerate(frames))
        delivered[k] = got
        under = (target - got) if target >= 0 else (got - target)
        if under >= 1:
            shortfalls.append(Shortfall(k, target, got, cause))
    misses = []
    for i, label, slack in model.slack:
        missing = _value(slack)
        if missing > 1.0:
            misses.append(RequirementMiss(frames[i].ev.ev_id, label, math.ceil(missing)))
    return Disaggregation(
        horizon=horizon,
        power_w=power_w,
        soc_wh=soc_wh,
        delivered_w=delivered,
        shortfalls=shortfalls,
        misses=misses,
        evse={f.ev.ev_id: f.ev.evse for f in frames},
    )


def _round_schedules(
    frames: Sequence[EvFrame], horizon: Horizon, lp_power: list[list[float]]
) -> list[list[int]]:
    """Whole watts per EV and ISP: each ISP's total is the LP total rounded to the nearest
    watt, and the extra watts go to the EVs furthest behind their LP SoC path (error
    diffusion), so per-ISP sums stay within 1 W and SoC paths within a fraction of a Wh."""
    n = horizon.n_isps
    out = [[0] * n for _ in frames]
    behind = [0.0] * len(frames)  # LP energy minus integer energy so far, per EV (W·ISP)
    for k in range(n):
        lows, room = [], []
        for i, f in enumerate(frames):
            x = lp_power[i][k]
            lo = math.floor(x + _EPS)
            lo = max(lo, math.ceil(f.p_min[k] - _EPS))
            lo = min(lo, math.floor(f.p_max[k] + _EPS))
            lows.append(lo)
            if lo + 1 <= f.p_max[k] + _EPS and x - lo > _EPS:
                room.append(i)
        total = round(sum(lp_power[i][k] for i in range(len(frames))))
        extra = max(0, total - sum(lows))
        room.sort(key=lambda i: behind[i] + (lp_power[i][k] - lows[i]), reverse=True)
        for i in room[:extra]:
            lows[i] += 1
        for i in range(len(frames)):
            out[i][k] = lows[i]
            behind[i] += lp_power[i][k] - lows[i]
            if k + 1 in frames[i].resets:
                behind[i] = 0.0
    return out
