"""The clearing MIP as plain arrays, solved by HiGHS (highspy array API) or by PuLP (CBC/HiGHS).

One builder (:func:`build_model`) produces column bounds, integrality, costs and a sparse row
matrix; :func:`solve_highspy` passes them to HiGHS directly (fast at 100 000 offers: building a
PuLP model of that size takes longer than solving it) and :func:`solve_pulp` rebuilds the
identical model as a PuLP problem (CBC fallback; the equivalence test solves both and compares
awards).  Internally power is scaled to kW and money to EUR for numerics; nothing scaled leaves
this module.  ``solve_highspy`` splits the model into independent connected components (the two
substation subtrees of the synthetic sessions share no row), solves them concurrently (two
threads; HiGHS releases the GIL) and runs a primal heuristic on each first (LP dive + RINS, then
the MIP started from that incumbent) because HiGHS' own heuristics need about a minute to find
an incumbent of that quality at 10 000 offers.  The reported gap combines the parts exactly:
``(sum of objectives - sum of bounds) / |sum of objectives|``.

Model (minimise cost - value, i.e. maximise welfare), per option k and requested ISP (r, t):

* ``a_k`` in [0, 1] activation; ``y_k`` binary "on"; ``m_k y_k <= a_k <= y_k`` (semi-continuous;
  when m_k = 1 the option is a single binary ``a_k``); offers with several options:
  ``sum y_k <= 1`` (exclusive);
* ``p_rt`` in [0, max_rt] procured power; all-or-nothing ISPs with min > 0 get a binary ``z_rt``
  with ``min z <= p <= max z``;
* coverage ``p_rt <= sum_k s_kr P_kt a_k`` over options at or below the request's point;
* budget ``sum_{k funded by r} pay_k a_k <= budget_r`` (pay = bid cost for pay-as-bid, the max
  price bound for pay-as-clear), with a 4 ppm margin for integer rounding of activations;
* limits: per limited point and ISP, net consumption change of activations and rebounds (times
  sensitivity) within ``[-max_decrease_w, +max_increase_w]``; rows that can never bind are dropped;
* objective: ``sum_k (cost_k + eps_k) a_k - sum v_r p_rt``, ``eps_k`` a tiny tie-break by the
  keccak rank of (offer_id, option_ref) so equal-welfare optima are ordered deterministically.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from clearing.errors import SolverFailed
from clearing.prepare import Prepared
from clearing.units import PPM

__all__ = [
    "ModelArrays",
    "SolveOutcome",
    "build_model",
    "components",
    "solve_highspy",
    "solve_pulp",
]

_BUDGET_MARGIN = 4e-6
_DIVE_FRACTION = 0.2  # share of fractional options rounded up per dive round
_DIVE_DOWN = 0.5  # share of the least-activated fractional options switched off
_DIVE_RC_FIX = 0.2  # EUR: LP-zero columns this far from entering are fixed at 0
_RINS_SHARE = 0.3  # of a component's time; the rest goes to the MIP (its cuts give the bound)
# Cut-pool limits (HiGHS default 10 000): the RINS sub-MIP only has to find solutions and spent
# ~2 s separating ~8 000 cuts before its first sub-MIP heuristic; measured on seeds 0-2 at 10 000.
_RINS_CUT_POOL = 100
_MIP_CUT_POOL = 1_000
_WORKERS = min(2, os.cpu_count() or 1)  # components solved at once (the target machine: 2)
_PART_GAP = 0.8  # share of the bundle's gap target each component aims for
_RINS_AGREE = 1e-6  # LP and incumbent "agree" on a column only when the LP is integral there
_TIE_EPS = 1e-10  # in EUR (objective scale), far below one token unit
# Internal scaling only (the integers outside never see it): power in kW, money in EUR.
_KW = 1_000.0
_EUR = 1e6


@dataclass
class ModelArrays:
    n_cols: int
    col_cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool per column
    row_lower: np.ndarray
    row_upper: np.ndarray
    rows: np.ndarray  # COO triplets
    cols: np.ndarray
    vals: np.ndarray
    a_col: list[int]  # option k -> activation column
    y_col: list[int]  # option k -> "on" column (== a_col when a is binary)
    p_col: dict[tuple[int, int], int]  # (request, isp) -> procured column
    z_col: dict[tuple[int, int], int]
    groups: list[list[int]]  # "on" columns of each multi-option offer (at most one may be 1)
    semi: dict[int, tuple[int, float]]  # "on" column -> (activation column, min activation)
    aon: dict[int, tuple[int, float]]  # all-or-nothing column z -> (procured column, min kW)


@dataclass
class SolveOutcome:
    activation: list[float]  # per option, a_k
    on: list[bool]  # per option
    status: str  # "optimal" | "time_limit"
    objective: float
    gap: float | None  # relative MIP gap, None when the solver cannot tell
    solver: str
    version: str
    solve_s: float


def build_model(prep: Prepared) -> ModelArrays:
    """Build the arrays; see the module docstring for the formulation."""
    b = prep.bundle
    dur = b.isp_duration_s
    pay_as_clear = b.rules.pricing_rule == "pay_as_clear"
    cost: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    integ: list[bool] = []
    r_lo: list[float] = []
    r_hi: list[float] = []
    rr: list[int] = []
    cc: list[int] = []
    vv: list[float] = []

    def col(c: float, lower: float, upper: float, is_int: bool) -> int:
        cost.append(c)
        lo.append(lower)
        hi.append(upper)
        integ.append(is_int)
        return len(cost) - 1

    def row(lower: float, upper: float, entries: list[tuple[int, float]]) -> None:
        ri = len(r_lo)
        r_lo.append(lower)
        r_hi.append(upper)
        for c_, v_ in entries:
            rr.append(ri)
            cc.append(c_)
            vv.append(v_)

    n_opt = len(prep.options)
    a_col: list[int] = []
    y_col: list[int] = []
    for opt in prep.options:
        c_k = opt.price_per_mwh * opt.energy_wh_x3600 / 3600 / 1e6 / _EUR
        eps = _TIE_EPS * (opt.tie_rank + 1) / (n_opt + 1)
        m = opt.min_activation_ppm / PPM
        if opt.min_activation_ppm == PPM:
            a = col(c_k + eps, 0.0, 1.0, True)
            a_col.append(a)
            y_col.append(a)
        else:
            a = col(c_k + eps, 0.0, 1.0, False)
            y = col(0.0, 0.0, 1.0, True)
            a_col.append(a)
            y_col.append(y)
            row(-np.inf, 0.0, [(a, 1.0), (y, -1.0)])
            row(-np.inf, 0.0, [(y, m), (a, -1.0)])
    groups: list[list[int]] = []
    for ks in prep.offer_options.values():
        if len(ks) > 1:
            row(-np.inf, 1.0, [(y_col[k], 1.0) for k in ks])
            groups.append([y_col[k] for k in ks])
    p_col: dict[tuple[int, int], int] = {}
    z_col: dict[tuple[int, int], int] = {}
    cover: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for req in prep.requests:
        v = req.max_price_per_mwh * dur / 3600 / 1e6 * _KW / _EUR  # EUR per kW-ISP
        for t, (mn, mx) in sorted(req.requested.items()):
            p = col(-v, 0.0, mx / _KW, False)
            p_col[(req.index, t)] = p
            cover[(req.index, t)] = [(p, 1.0)]
            if req.all_or_nothing and mn > 0:
                z = col(0.0, 0.0, 1.0, True)
                z_col[(req.index, t)] = z
                row(-np.inf, 0.0, [(p, 1.0), (z, -mx / _KW)])
                row(-np.inf, 0.0, [(z, mn / _KW), (p, -1.0)])
    budget: dict[int, list[tuple[int, float]]] = {}
    net: dict[tuple[str, int], dict[int, float]] = {}
    for opt in prep.options:
        a = a_col[opt.index]
        for ri, s in opt.covers:
            req_isps = prep.requests[ri].requested
            for t, pw in opt.isps:
                if t in req_isps:
                    cover[(ri, t)].append((a, -pw * s / PPM / _KW))
        if pay_as_clear:
            fund = prep.requests[opt.fund]
            pay = fund.max_price_per_mwh * opt.fund_sensitivity_ppm / PPM
        else:
            pay = opt.price_per_mwh
        budget.setdefault(opt.fund, []).append((a, pay * opt.energy_wh_x3600 / 3600 / 1e6 / _EUR))
        sign = 1.0 if opt.direction == "DOWN" else -1.0  # DOWN = more consumption
        for code, s in opt.limits:
            f = s / PPM / _KW
            for t, pw in opt.isps:
                d = net.setdefault((code, t), {})
                d[a] = d.get(a, 0.0) + sign * pw * f
            for t, pw in opt.rebound:
                d = net.setdefault((code, t), {})
                d[a] = d.get(a, 0.0) - sign * pw * f
    for key in sorted(cover):
        if len(cover[key]) > 1:
            row(-np.inf, 0.0, cover[key])
        else:  # nothing can cover it: procured stays 0
            hi[cover[key][0][0]] = 0.0
    for ri in sorted(budget):
        rhs = max(0.0, prep.requests[ri].budget_units * (1 - _BUDGET_MARGIN) - 1) / _EUR
        row(-np.inf, rhs, budget[ri])
    for (code, _t), coefs in sorted(net.items()):
        max_inc, max_dec = prep.limits[code]
        entries = sorted(coefs.items())
        if max_inc is not None and sum(v for _, v in entries if v > 0) > max_inc / _KW:
            row(-np.inf, max_inc / _KW, entries)
        if max_dec is not None and sum(-v for _, v in entries if v < 0) > max_dec / _KW:
            row(-np.inf, max_dec / _KW, [(c_, -v_) for c_, v_ in entries])
    return ModelArrays(
        n_cols=len(cost),
        col_cost=np.asarray(cost, dtype=np.float64),
        col_lower=np.asarray(lo, dtype=np.float64),
        col_upper=np.asarray(hi, dtype=np.float64),
        integer=np.asarray(integ, dtype=bool),
        row_lower=np.asarray(r_lo, dtype=np.float64),
        row_upper=np.asarray(r_hi, dtype=np.float64),
        rows=np.asarray(rr, dtype=np.int64),
        cols=np.asarray(cc, dtype=np.int64),
        vals=np.asarray(vv, dtype=np.float64),
        a_col=a_col,
        y_col=y_col,
        p_col=p_col,
        z_col=z_col,
        groups=groups,
        aon={
            z: (p_col[key], prep.requests[key[0]].requested[key[1]][0] / _KW)
            for key, z in z_col.items()
        },
        semi={
            y: (a, prep.options[k].min_activation_ppm / PPM)
            for k, (a, y) in enumerate(zip(a_col, y_col, strict=True))
            if a != y
        },
    )


def _outcome(
    m: ModelArrays,
    x: np.ndarray,
    status: str,
    obj: float,
    gap: float | None,
    name: str,
    ver: str,
    solve_s: float,
) -> SolveOutcome:
    act = [float(x[c]) for c in m.a_col]
    on = [bool(x[y] > 0.5) for y in m.y_col]
    return SolveOutcome(act, on, status, obj, gap, name, ver, solve_s)


_banner_shown = False


def new_highs() -> Any:
    """A ``highspy.Highs``; the first one per process prints a banner on C stdout, which would
    corrupt a JSON stdout, so that one is created with fd 1 pointed at stderr."""
    global _banner_shown
    import highspy

    if _banner_shown:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_shown = True
    return h


def highs_version() -> str:
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _highs_lp(m: ModelArrays, *, integer: bool) -> Any:
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = m.n_cols
    lp.num_row_ = len(m.row_lower)
    lp.col_cost_ = m.col_cost
    lp.col_lower_ = m.col_lower
    lp.col_upper_ = m.col_upper
    lp.row_lower_ = np.where(np.isinf(m.row_lower), -highspy.kHighsInf, m.row_lower)
    lp.row_upper_ = m.row_upper
    order = np.lexsort((m.rows, m.cols))
    counts = np.bincount(m.cols, minlength=m.n_cols)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    lp.a_matrix_.index_ = m.rows[order].astype(np.int32)
    lp.a_matrix_.value_ = m.vals[order]
    lp.a_matrix_.num_col_ = m.n_cols
    lp.a_matrix_.num_row_ = len(m.row_lower)
    if integer and m.integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in m.integer
        ]
    return lp


def _configure(h: Any, time_limit_s: float) -> None:
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", max(0.1, float(time_limit_s)))


def lp_dive(
    m: ModelArrays, time_limit_s: float
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Primal heuristic; returns (integral solution or None, first LP solution, its reduced
    costs).  Solve the LP relaxation; fix "on" columns at 0/1 where the LP put them (zeros only
    when clearly priced out), switch on divisible options already above their minimum, round up
    the most-activated 20 % of the fractional ones (one per exclusive offer) and switch off the
    least-activated half; re-solve; repeat until integral.  About a second at 10 000 offers,
    within ~0.3 % of the optimum (HiGHS' own heuristics need about a minute for that).
    Deterministic: ties break by column index."""
    import highspy

    deadline = time.perf_counter() + time_limit_s
    h = new_highs()
    _configure(h, time_limit_s)
    h.passModel(_highs_lp(m, integer=False))
    # dive on the options' "on" columns only; all-or-nothing z columns stay free until the end
    idx = np.asarray(sorted(set(np.nonzero(m.integer)[0]) - set(m.aon)), dtype=np.int64)
    lower = m.col_lower.copy()
    upper = m.col_upper.copy()
    group_of = np.full(m.n_cols, -1)
    for g, cols in enumerate(m.groups):
        group_of[cols] = g
    last_up: np.ndarray = np.empty(0, dtype=np.int64)
    x_lp: np.ndarray | None = None
    rc_lp: np.ndarray | None = None
    for _ in range(60):
        if time.perf_counter() > deadline:
            return None, x_lp, rc_lp
        h.setOptionValue("time_limit", max(0.1, deadline - time.perf_counter()))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            if last_up.size == 0:
                return None, x_lp, rc_lp
            lower[last_up] = 0.0
            upper[last_up] = 0.0
            _set_bounds(h, last_up, lower, upper)
            last_up = np.empty(0, dtype=np.int64)
            continue
        solution = h.getSolution()
        x = np.asarray(solution.col_value)
        rc = np.asarray(solution.col_dual)
        if x_lp is None:
            x_lp, rc_lp = x.copy(), rc.copy()
        xi = x[idx]
        free = lower[idx] < upper[idx]
        frac = free & (xi > 1e-6) & (xi < 1 - 1e-6)
        if not frac.any():
            if not m.aon:
                x[idx] = np.round(xi)
                return x, x_lp, rc_lp
            # options fixed: switch each all-or-nothing ISP on iff its minimum is already met
            zc = np.asarray(sorted(m.aon), dtype=np.int64)
            on = np.asarray([x[m.aon[z][0]] >= m.aon[z][1] - 1e-9 for z in zc])
            lower[idx] = np.round(xi)
            upper[idx] = np.round(xi)
            lower[zc] = np.where(on, 1.0, 0.0)
            upper[zc] = np.where(on, 1.0, 0.0)
            _set_bounds(h, np.concatenate((idx, zc)), lower, upper)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None, x_lp, rc_lp
            x = np.asarray(h.getSolution().col_value)
            x[idx] = np.round(x[idx])
            x[zc] = np.round(x[zc])
            return x, x_lp, rc_lp
        zero = idx[free & (xi <= 1e-6) & (rc[idx] > _DIVE_RC_FIX)]
        one = idx[free & (xi >= 1 - 1e-6)]
        # switching on a divisible option whose LP activation already meets its minimum is free
        free_on = [
            c
            for c in idx[frac]
            if c in m.semi and x[m.semi[c][0]] >= m.semi[c][1] - 1e-9 and group_of[c] < 0
        ]
        if free_on:
            one = np.concatenate((one, np.asarray(free_on, dtype=np.int64)))
            lower[one] = 1.0
            upper[zero] = 0.0
            last_up = np.empty(0, dtype=np.int64)
            _set_bounds(h, np.concatenate((zero, one)), lower, upper)
            continue
        upper[zero] = 0.0
        lower[one] = 1.0
        cand = idx[frac]
        cand = cand[np.lexsort((cand, -x[cand]))]
        n_up = max(1, int(len(cand) * _DIVE_FRACTION))
        taken_groups = {int(group_of[c]) for c in idx[lower[idx] >= 1.0] if group_of[c] >= 0}
        ups: list[int] = []
        for c in cand:
            if len(ups) >= n_up:
                break
            g = int(group_of[c])
            if g >= 0:
                if g in taken_groups:
                    continue
                taken_groups.add(g)
            ups.append(int(c))
        last_up = np.asarray(ups, dtype=np.int64)
        lower[last_up] = 1.0
        # the least-activated fractional ones are switched off (the LP refills around them)
        downs = np.asarray(
            [c for c in cand[::-1][: int(len(cand) * _DIVE_DOWN)] if c not in set(ups)],
            dtype=np.int64,
        )
        upper[downs] = 0.0
        changed = np.concatenate((zero, one, last_up, downs))
        _set_bounds(h, changed, lower, upper)
    return None, x_lp, rc_lp


def rins(
    m: ModelArrays, incumbent: np.ndarray, x_lp: np.ndarray, time_limit_s: float
) -> np.ndarray:
    """Relaxation-induced neighbourhood search: fix the integer columns on which the incumbent
    and the LP relaxation agree, solve the small sub-MIP left over; never worse than the
    incumbent (the better of the two is returned)."""
    idx = np.nonzero(m.integer)[0]
    agree = idx[np.abs(incumbent[idx] - x_lp[idx]) < _RINS_AGREE]
    sub = ModelArrays(**{**m.__dict__})
    sub.col_lower = m.col_lower.copy()
    sub.col_upper = m.col_upper.copy()
    sub.col_lower[agree] = np.round(incumbent[agree])
    sub.col_upper[agree] = np.round(incumbent[agree])
    h = new_highs()
    _configure(h, time_limit_s)
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.setOptionValue("mip_pool_soft_limit", _RINS_CUT_POOL)
    h.passModel(_highs_lp(sub, integer=True))
    _set_start(h, incumbent)
    h.run()
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return incumbent
    x = np.asarray(h.getSolution().col_value)
    cost = float(m.col_cost @ x)
    if abs(cost - float(info.objective_function_value)) > 1e-6 * max(1.0, abs(cost)):
        return incumbent
    return x if cost < float(m.col_cost @ incumbent) else incumbent


def _set_start(h: Any, x: np.ndarray) -> None:
    """Give HiGHS a feasible start (its incumbent and cutoff from the first node); whatever it
    returns is checked against its claimed objective by the caller."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = x.tolist()
    sol.value_valid = True
    h.setSolution(sol)


def _set_bounds(h: Any, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    if cols.size:
        h.changeColsBounds(int(cols.size), cols.astype(np.int32), lower[cols], upper[cols])


def components(m: ModelArrays) -> list[np.ndarray]:
    """Connected components of the model (columns linked by a shared row), each as sorted column
    indices, ordered by their first column.  Requests in different substation subtrees share no
    row, so the synthetic 10 000-offer session splits into two independent MIPs of half the size;
    solving them separately is exact (the optimum is the sum of the parts) and much faster."""
    parent = np.arange(m.n_cols)

    def find(c: int) -> int:
        root = c
        while parent[root] != root:
            root = parent[root]
        while parent[c] != root:
            parent[c], c = root, int(parent[c])
        return root

    if m.rows.size:
        order = np.argsort(m.rows, kind="stable")
        rows, cols = m.rows[order], m.cols[order]
        first = np.concatenate(([True], rows[1:] != rows[:-1]))
        heads = np.maximum.accumulate(np.where(first, np.arange(rows.size), 0))
        for a, b in zip(cols[heads].tolist(), cols.tolist(), strict=True):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.asarray([find(c) for c in range(m.n_cols)], dtype=np.int64)
    return [np.nonzero(roots == r)[0] for r in np.unique(roots)]


def _submodel(m: ModelArrays, cols: np.ndarray) -> ModelArrays:
    """The rows and columns of one component, renumbered (per-option maps are not carried)."""
    new_col = np.full(m.n_cols, -1, dtype=np.int64)
    new_col[cols] = np.arange(cols.size)
    keep = new_col[m.cols] >= 0
    rows = np.unique(m.rows[keep])
    new_row = np.full(len(m.row_lower), -1, dtype=np.int64)
    new_row[rows] = np.arange(rows.size)
    return ModelArrays(
        n_cols=int(cols.size),
        col_cost=m.col_cost[cols],
        col_lower=m.col_lower[cols],
        col_upper=m.col_upper[cols],
        integer=m.integer[cols],
        row_lower=m.row_lower[rows],
        row_upper=m.row_upper[rows],
        rows=new_row[m.rows[keep]],
        cols=new_col[m.cols[keep]],
        vals=m.vals[keep],
        a_col=[],
        y_col=[],
        p_col={},
        z_col={},
        groups=[[int(new_col[c]) for c in g] for g in m.groups if new_col[g[0]] >= 0],
        semi={
            int(new_col[y]): (int(new_col[a]), mn)
            for y, (a, mn) in m.semi.items()
            if new_col[y] >= 0
        },
        aon={
            int(new_col[z]): (int(new_col[p]), mn)
            for z, (p, mn) in m.aon.items()
            if new_col[z] >= 0
        },
    )


def solve_highspy(m: ModelArrays, *, time_limit_s: int, mip_gap_ppm: int) -> SolveOutcome:
    """Solve with HiGHS through highspy's array API (single-threaded HiGHS, fixed seed).

    The model is split into its connected components (:func:`components`), each solved by
    :func:`_solve_part` with a gap target of 0.8 x the bundle's, so the combined gap
    ``(sum obj - sum bound) / |sum obj|`` -- never above the largest part's -- stays under it.
    Up to :data:`_WORKERS` parts run at once in threads (``Highs.run`` releases the GIL; each
    instance is independent, so the result does not depend on the worker count); a part starting
    gets ``min(1, workers x its size / size of the parts not started)`` of the time left."""
    t0 = time.perf_counter()
    version = highs_version()  # also prints HiGHS' banner (to stderr) before any thread starts
    parts = components(m)
    target = mip_gap_ppm / PPM
    lock = threading.Lock()
    left = [sum(int(c.size) for c in parts)]
    workers = max(1, min(_WORKERS, len(parts)))

    def run(cols: np.ndarray) -> tuple[np.ndarray, float, bool]:
        with lock:
            remaining = time_limit_s - (time.perf_counter() - t0)
            share = max(0.1, remaining * min(1.0, workers * cols.size / left[0]))
            left[0] -= int(cols.size)
        sub = m if len(parts) == 1 else _submodel(m, cols)
        return _solve_part(sub, share, _PART_GAP * target)

    def run_in_thread(cols: np.ndarray) -> tuple[np.ndarray, float, bool]:
        try:
            return run(cols)
        finally:  # as highspy's own threaded solve does: free this thread's HiGHS scheduler
            import highspy

            reset = getattr(highspy._core._Highs, "resetThreadScheduler", None)
            if reset is not None:
                reset(False)

    if workers == 1:
        results = [run(cols) for cols in parts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_in_thread, parts))
    x = np.zeros(m.n_cols)
    bound = 0.0
    proven = True
    for cols, (xs, b_s, ok) in zip(parts, results, strict=True):
        x[cols] = xs
        bound += b_s
        proven = proven and ok
    obj = float(m.col_cost @ x)
    has_int = bool(m.integer.any())
    if not has_int:
        gap: float | None = 0.0
    elif np.isfinite(bound):
        gap = max(0.0, obj - bound) / max(abs(obj), 1e-9)
    else:
        gap = None
    optimal = proven or (gap is not None and gap <= target)
    status = "optimal" if optimal else "time_limit"
    return _outcome(m, x, status, obj, gap, "highs", version, time.perf_counter() - t0)


def _solve_part(
    m: ModelArrays, time_limit_s: float, target: float
) -> tuple[np.ndarray, float, bool]:
    """One component: LP relaxation + :func:`lp_dive` (<= 45 % of its time), :func:`rins`
    (<= 30 %), then the full MIP started from that incumbent (``setSolution``) until the gap is
    proven below ``target`` or time is up.  Returns (best solution, best valid bound -- HiGHS'
    dual bound, else the LP bound --, solved to optimality or the target)."""
    import highspy

    t0 = time.perf_counter()
    has_int = bool(m.integer.any())
    start: np.ndarray | None = None
    lp_bound = -np.inf
    if has_int:
        start, x_lp, _ = lp_dive(m, 0.45 * time_limit_s)
        if x_lp is not None:
            lp_bound = float(m.col_cost @ x_lp)
        if start is not None and x_lp is not None:
            start = rins(m, start, x_lp, _RINS_SHARE * time_limit_s)
            if (float(m.col_cost @ start) - lp_bound) <= target * max(abs(lp_bound), 1e-9):
                return start, lp_bound, True  # already proven by the LP bound
    h = new_highs()
    _configure(h, time_limit_s - (time.perf_counter() - t0))
    h.setOptionValue("mip_rel_gap", target)
    h.setOptionValue("mip_pool_soft_limit", _MIP_CUT_POOL)
    h.passModel(_highs_lp(m, integer=True))
    if start is not None:
        _set_start(h, start)
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    candidates: list[np.ndarray] = []
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        x_h = np.asarray(h.getSolution().col_value)
        claimed = float(info.objective_function_value)
        # guard: only a vector whose own cost matches HiGHS' claim is trusted
        if abs(float(m.col_cost @ x_h) - claimed) <= 1e-6 * max(1.0, abs(claimed)):
            candidates.append(x_h)
    if start is not None:
        candidates.append(start)
    if not candidates:
        raise SolverFailed(f"HiGHS stopped with {h.modelStatusToString(ms)} and no usable solution")
    x = min(candidates, key=lambda c: float(m.col_cost @ c))  # first wins ties: HiGHS' own
    if not has_int:
        return x, float(m.col_cost @ x), ms == highspy.HighsModelStatus.kOptimal
    bound = lp_bound
    if np.isfinite(info.mip_dual_bound):
        bound = max(bound, float(info.mip_dual_bound))
    return x, bound, ms == highspy.HighsModelStatus.kOptimal


def _log_value(log: str, label: str) -> str | None:
    """The token after ``label`` on its last occurrence in a CBC log."""
    for line in reversed(log.splitlines()):
        if line.strip().startswith(label):
            parts = line.strip()[len(label) :].split()
            return parts[0] if parts else None
    return None


def build_pulp(m: ModelArrays):  # type: ignore[no-untyped-def]
    """The same model as a PuLP problem (variables x0..xn, constraints r0..rm)."""
    import pulp

    prob = pulp.LpProblem("clearing", pulp.LpMinimize)
    xs = [
        prob.add_variable(
            f"x{j}",
            float(m.col_lower[j]),
            float(m.col_upper[j]),
            cat=pulp.LpInteger if m.integer[j] else pulp.LpContinuous,
        )
        for j in range(m.n_cols)
    ]
    prob.setObjective(
        pulp.LpAffineExpression([(xs[j], float(m.col_cost[j])) for j in range(m.n_cols)])
    )
    order = np.argsort(m.rows, kind="stable")
    rows = m.rows[order]
    cols = m.cols[order]
    vals = m.vals[order]
    bounds = np.searchsorted(rows, np.arange(len(m.row_lower) + 1))
    for i in range(len(m.row_lower)):
        s, e = bounds[i], bounds[i + 1]
        expr = pulp.LpAffineExpression([(xs[int(cols[q])], float(vals[q])) for q in range(s, e)])
        prob.addConstraint(expr <= float(m.row_upper[i]), name=f"r{i}")
    return prob, xs


def solve_pulp(
    m: ModelArrays, *, solver: str, time_limit_s: int, mip_gap_ppm: int
) -> tuple[SolveOutcome, float]:
    """Build with PuLP, solve with CBC (``solver="cbc"``) or HiGHS; returns (outcome, build_s)."""
    import pulp

    t0 = time.perf_counter()
    prob, xs = build_pulp(m)
    build_s = time.perf_counter() - t0
    gap_rel = mip_gap_ppm / PPM
    with tempfile.TemporaryDirectory(prefix="flexmarket-cbc-") as tmp:
        log_path = os.path.join(tmp, "cbc.log")
        if solver == "cbc":
            with warnings.catch_warnings():  # PuLP 3.3 deprecates the bundled-CBC class name
                warnings.simplefilter("ignore", DeprecationWarning)
                # CBC 2.10.3's preprocessing wrongly declares some of these models infeasible
                cmd = pulp.PULP_CBC_CMD(
                    msg=False,
                    timeLimit=time_limit_s,
                    gapRel=gap_rel,
                    threads=1,
                    options=["preprocess off"],
                    logPath=log_path,
                )
        else:
            new_highs()  # banner, if any, to stderr
            cmd = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, threads=1)
        t1 = time.perf_counter()
        prob.solve(cmd)
        solve_s = time.perf_counter() - t1
        log = ""
        if solver == "cbc" and os.path.exists(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                log = fh.read()
    if prob.sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
    elif prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "time_limit"
    else:
        raise SolverFailed(f"{solver} via PuLP: {pulp.LpStatus[prob.status]}, no usable solution")
    x = np.asarray([v.varValue or 0.0 for v in xs])
    obj = float(m.col_cost @ x)
    gap: float | None
    if solver == "cbc":
        version = "cbc-" + (_log_value(log, "Version:") or "unknown")
        bound = _log_value(log, "Lower bound:")
        gap = max(0.0, obj - float(bound)) / max(abs(obj), 1e-9) if bound else None
    else:
        version = highs_version()
        gap = gap_rel if status == "optimal" else None  # PuLP does not expose HiGHS' bound
    return _outcome(m, x, status, obj, gap, solver, version, solve_s), build_s
