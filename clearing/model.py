"""The clearing MIP as plain arrays: one builder shared by every solver backend.

:func:`build_model` produces column bounds, integrality, costs and a sparse row matrix; the
backends in :mod:`clearing.solvers` solve it (HiGHS through highspy's array API, CBC through
PuLP; the equivalence test solves both and compares awards).  Internally power is scaled to kW
and money to EUR for numerics; nothing scaled leaves the model and its backends.
:func:`components` splits the model into independent parts (the two substation subtrees of the
synthetic sessions share no row), which the HiGHS backend solves separately.

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

from dataclasses import dataclass, field

import numpy as np

from clearing.prepare import Prepared
from clearing.units import PPM

__all__ = [
    "ModelArrays",
    "PartStages",
    "SolveOutcome",
    "build_model",
    "components",
    "solve_outcome",
    "submodel",
]

_BUDGET_MARGIN = 4e-6
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
class PartStages:
    """Where one component's solve spent its time (wall seconds, machine-dependent: reported
    by ``bench clearing``, never part of a result bundle) and how good each incumbent was, as
    its gap over the LP bound (``None`` when that stage did not run)."""

    columns: int
    binaries: int
    dive_s: float = 0.0
    lns_s: float = 0.0
    mip_s: float = 0.0
    proven_by: str | None = None  # "dive" | "lns" | "mip": the stage that proved the gap
    dive_gap_over_lp: float | None = None
    lns_gap_over_lp: float | None = None


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
    parts: list[PartStages] = field(default_factory=list)  # HiGHS backend: one per component


def build_model(prep: Prepared) -> ModelArrays:
    """Build the arrays; see the module docstring for the formulation."""
    b = prep.bundle
    dur = b.isp_s
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


def solve_outcome(
    m: ModelArrays,
    x: np.ndarray,
    status: str,
    obj: float,
    gap: float | None,
    name: str,
    ver: str,
    solve_s: float,
    parts: list[PartStages] | None = None,
) -> SolveOutcome:
    act = [float(x[c]) for c in m.a_col]
    on = [bool(x[y] > 0.5) for y in m.y_col]
    return SolveOutcome(act, on, status, obj, gap, name, ver, solve_s, parts or [])


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


def submodel(m: ModelArrays, cols: np.ndarray) -> ModelArrays:
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
