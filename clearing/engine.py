"""``clear(bundle) -> ResultBundle``: validate, build, solve, round to integers, price, commit.

Integer accounting after the solve (identical for the optimiser and the greedy baseline):

* activation ``act_ppm = clamp(round(a * 1e6), min_activation_ppm, 1e6)``;
* ordered power per ISP ``floor(power_w * act_ppm / 1e6)``; order energy
  ``E = sum_t floor(ordered_w * isp_s / 3600)`` Wh;
* procured at request r, ISP t: ``min(max_power_w, floor(sum s_ppm * ordered_w / 1e6))`` over the
  orders at or below its point; an all-or-nothing ISP below its min counts as 0;
* value ``sum floor(energy(procured) * max_price / 1e6)``, cost ``sum floor(E * bid / 1e6)``,
  welfare = value - cost (independent of the pricing rule).

Pricing (both rules give ``payment_cap_units`` = the payment for full delivery):

* ``pay_as_bid``: cap ``floor(E * bid / 1e6)``, order price = bid;
* ``pay_as_clear``: the uniform price at (funding point, direction, ISP) is the highest
  *effective* accepted bid ``ceil(bid * 1e6 / s_ppm)`` among orders funded there with power in
  that ISP (the marginal accepted offer - well defined for block offers, unlike LP duals); an
  order is paid ``floor(sum_t E_t * s_ppm * price_t / 1e12)`` but never less than its bid cost;
  order price = ``max(bid, floor(cap * 1e6 / E))``.  Eligibility guarantees every effective bid
  <= the request's max price, so no FSP is paid below its bid and no DSO above its max price.

Merkle leaf per order (see :data:`ORDER_LEAF_ENCODING`):
``(bytes32 orderId, bytes32 requestId, address fsp, uint256 paymentCap, bytes32 orderHash)`` with
ids = keccak256(uuid bytes) and orderHash = keccak256(canonical JSON of the FlexOrder).
Orders are sorted by ``order_id``; an empty result has root ``0x00..00``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from clearing.bundle import (
    ClearingCertificate,
    ClearingPrice,
    FspProofs,
    InputBundle,
    OrderProof,
    PaymentCap,
    Procurement,
    ResultBundle,
    SolverRun,
    WorkLimits,
    bundle_hash,
)
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.errors import ClearingError, SafetyNetFired, SolverFailed
from clearing.evaluation import Evaluation, activations_from, evaluate, order_id_for
from clearing.gc_pause import gc_paused
from clearing.greedy import greedy
from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOrder
from clearing.model import PartStages, build_model
from clearing.prepare import Prepared, prepare
from clearing.solvers.cbc import solve_pulp
from clearing.solvers.highs import solve_highspy
from clearing.solvers.highs_api import highs_version, highs_work_limits
from clearing.units import PPM
from clearing.validation import validate_bundle

__all__ = [
    "ORDER_LEAF_ENCODING",
    "ClearingRun",
    "clear",
    "clear_fallback",
    "clear_run",
    "order_id_for",
    "order_leaf",
]

log = logging.getLogger(__name__)

ORDER_LEAF_ENCODING = ("bytes32", "bytes32", "address", "uint256", "bytes32")
ZERO_ROOT = "0x" + "00" * 32


def order_leaf(order: FlexOrder) -> tuple[bytes, bytes, str, int, bytes]:
    """The Merkle leaf value of an order (abi types in ORDER_LEAF_ENCODING)."""
    return (
        uuid_to_bytes32(order.order_id),
        uuid_to_bytes32(order.request_id),
        order.fsp,
        order.payment_cap_units,
        keccak256(order.to_canonical()),
    )


@dataclass
class ClearingRun:
    """A result bundle plus the measurements the benchmark reports."""

    result: ResultBundle
    evaluation: Evaluation
    build_s: float
    solve_s: float
    objective: float
    gap: float | None
    parts: list[PartStages] = field(default_factory=list)  # HiGHS: where each part's time went


Backend = Literal["highspy", "pulp-highs", "pulp-cbc"]


def clear(bundle: InputBundle | Mapping[str, Any]) -> ResultBundle:
    """Clear a session: the pure function auditors recompute."""
    return clear_run(bundle).result


def clear_fallback(bundle: InputBundle | Mapping[str, Any]) -> ResultBundle:
    """The result published when the wall-clock safety net fires (status ``unproven``): the
    greedy orders, a function of the input alone, so an auditor can recompute it too."""
    with gc_paused():
        b = validate_bundle(bundle)
        return _fallback_run(b, prepare(b), 0.0).result


_SAFETY_NET_REASON = (
    "the wall-clock safety net (rules.time_limit_s) fired before the work limits: "
    "the orders are the greedy baseline's"
)


def _fallback_run(b: InputBundle, prep: Prepared, build_s: float) -> ClearingRun:
    with gc_paused():
        limits = highs_work_limits(b.rules.time_limit_s)
        g = greedy(prep)
        ev = g.evaluation
        result = _result(
            b, ev, "unproven", None, "highs", highs_version(), _SAFETY_NET_REASON, limits
        )
        result = result.model_copy(update={"certificate": _certificate(ev, 0.0, None)})
        _check_budgets(prep, ev)
    return ClearingRun(result, ev, build_s, g.seconds, ev.welfare_units / 1e6, None)


def clear_run(
    bundle: InputBundle | Mapping[str, Any], *, backend: Backend | None = None
) -> ClearingRun:
    """Clear with timings. Default backend: HiGHS (highspy arrays), or CBC if the rules say so.

    HiGHS stops on deterministic work limits; if the wall-clock safety net (the rules'
    ``time_limit_s``) fires first, the greedy orders are published with status ``unproven``
    (:func:`clear_fallback`). If HiGHS fails, CBC clears instead. Neither happens silently: a
    warning is logged and the result bundle's ``solver`` carries a ``fallback_reason``.

    The cyclic garbage collector is paused (:func:`clearing.gc_pause.gc_paused`) while Python
    builds the model and the result, not during the solve: a solve can run for minutes, and a
    server's own cyclic garbage must not pile up that long."""
    t0 = time.perf_counter()
    with gc_paused():
        b = validate_bundle(bundle)
        prep = prepare(b)
        rules = b.rules
        if backend is None:
            backend = "pulp-cbc" if rules.solver.name == "cbc" else "highspy"
        if not prep.options:
            ev = evaluate(prep, {})
            name = "cbc" if backend == "pulp-cbc" else "highs"
            result = _result(b, ev, "empty", 0.0, name, "")  # no solver ran
            result = result.model_copy(update={"certificate": _certificate(ev, 0.0, 0.0)})
            return ClearingRun(result, ev, time.perf_counter() - t0, 0.0, 0.0, 0.0)
        model = build_model(prep)
    build_s = time.perf_counter() - t0
    limit, gap_ppm = rules.time_limit_s, rules.mip_gap_ppm
    fallback_reason: str | None = None
    limits: WorkLimits | None = None
    if backend == "highspy":
        try:
            limits = highs_work_limits(limit)
            sol = solve_highspy(model, limits=limits, mip_gap_ppm=gap_ppm)
        except SafetyNetFired as exc:
            log.warning("session %s: %s; publishing the greedy orders", b.session_id, exc)
            return _fallback_run(b, prep, build_s)
        except (SolverFailed, ImportError) as exc:
            fallback_reason, limits = f"highs failed: {exc}", None
            log.warning("session %s: %s; clearing with CBC instead", b.session_id, fallback_reason)
            sol, pulp_build_s = solve_pulp(
                model, solver="cbc", time_limit_s=limit, mip_gap_ppm=gap_ppm
            )
            build_s += pulp_build_s
    else:
        solver = "cbc" if backend == "pulp-cbc" else "highs"
        sol, pulp_build_s = solve_pulp(
            model, solver=solver, time_limit_s=limit, mip_gap_ppm=gap_ppm
        )
        build_s += pulp_build_s
    del model  # the arrays are not needed past the solve; free them before the result's peak
    with gc_paused():
        ev = evaluate(prep, activations_from(prep, sol))
        result = _result(
            b, ev, sol.status, sol.gap, sol.solver, sol.version, fallback_reason, limits
        )
        result = result.model_copy(
            update={"certificate": _certificate(ev, sol.objective, sol.gap)}, deep=False
        )
        _check_budgets(prep, ev)
    return ClearingRun(result, ev, build_s, sol.solve_s, -sol.objective, sol.gap, sol.parts)


def _certificate(ev: Evaluation, objective: float, gap: float | None) -> ClearingCertificate:
    """The welfare of the orders and the solver's bound on any clearing's welfare, in units.

    The model minimises ``-welfare`` in EUR (plus a tiny tie-break); HiGHS and CBC report the
    relative gap ``(objective - bound) / |objective|``, so the bound on welfare is
    ``-(objective - gap * |objective|)`` EUR, rounded up to whole units (never below the
    orders' own welfare, which a valid bound cannot be)."""
    if gap is None:
        return ClearingCertificate(objective_units=ev.welfare_units, dual_bound_units=None)
    bound_eur = -(objective - gap * max(abs(objective), 1e-9))
    bound = math.ceil(round(bound_eur * PPM, 3))
    return ClearingCertificate(
        objective_units=ev.welfare_units, dual_bound_units=max(bound, ev.welfare_units)
    )


def _check_budgets(prep: Prepared, ev: Evaluation) -> None:
    spent: dict[str, int] = {}
    for o in ev.orders:
        spent[o.request_id] = spent.get(o.request_id, 0) + o.payment_cap_units
    for req in prep.requests:
        if spent.get(req.request_id, 0) > req.budget_units:
            raise ClearingError(
                f"request {req.request_id}: payment caps {spent[req.request_id]} exceed "
                f"budget {req.budget_units} after rounding"
            )


def _result(
    b: InputBundle,
    ev: Evaluation,
    status: str,
    gap: float | None,
    solver: str,
    version: str,
    fallback_reason: str | None = None,
    limits: WorkLimits | None = None,
) -> ResultBundle:
    prep_requests = b.requests
    caps: dict[tuple[str, str], int] = {}
    for o in ev.orders:
        caps[(o.request_id, o.fsp)] = caps.get((o.request_id, o.fsp), 0) + o.payment_cap_units
    if ev.orders:
        tree = StandardMerkleTree.of([order_leaf(o) for o in ev.orders], ORDER_LEAF_ENCODING)
        root = hex32(tree.root)
        by_fsp: dict[str, list[OrderProof]] = {}
        for i, o in enumerate(ev.orders):
            by_fsp.setdefault(o.fsp, []).append(
                OrderProof(order_id=o.order_id, proof=tuple(hex32(p) for p in tree.proof(i)))
            )
        proofs = tuple(FspProofs(fsp=f, orders=tuple(by_fsp[f])) for f in sorted(by_fsp))
    else:
        root, proofs = ZERO_ROOT, ()
    cp_dir = {
        i: (r.congestion_point, r.direction, r.request_id) for i, r in enumerate(prep_requests)
    }
    return ResultBundle(
        session_id=b.session_id,
        input_hash=hex32(bundle_hash(b)),
        pricing_rule=b.rules.pricing_rule,
        solver=SolverRun(
            name=solver,  # type: ignore[arg-type]
            version=version,
            fallback_reason=fallback_reason,
            limits=limits,
        ),
        status=status,  # type: ignore[arg-type]
        mip_gap_ppm=-1 if gap is None else int(-(-max(gap, 0.0) * PPM // 1)),
        orders=tuple(ev.orders),
        procurement=tuple(
            Procurement(request_id=cp_dir[ri][2], isp_index=t, procured_w=p)
            for (ri, t), p in sorted(
                ev.procured.items(), key=lambda kv: (cp_dir[kv[0][0]][2], kv[0][1])
            )
        ),
        prices=tuple(
            sorted(
                (
                    ClearingPrice(
                        congestion_point=cp_dir[ri][0],
                        direction=cp_dir[ri][1],
                        isp_index=t,
                        price_per_mwh=p,
                    )
                    for (ri, t), p in ev.prices.items()
                ),
                key=lambda c: (c.congestion_point, c.direction, c.isp_index),
            )
        ),
        payment_caps=tuple(
            PaymentCap(request_id=r, fsp=f, payment_cap_units=v)
            for (r, f), v in sorted(caps.items())
        ),
        value_units=ev.value_units,
        cost_units=ev.cost_units,
        welfare_units=ev.welfare_units,
        orders_root=root,
        fsp_proofs=proofs,
    )
