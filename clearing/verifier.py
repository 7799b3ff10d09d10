"""``verify(input_bundle, result_bundle) -> list[Difference]``: the auditor's recomputation.

Two layers: (1) checks that need no solver - input hash, Merkle root and proofs, payment-cap sums,
budgets, each order within its offer and priced at or above its bid; (2) a full re-clear of the
input, compared field by field with the published result.  An empty list means "verified".
HiGHS results are a function of the input alone (work limits, not the clock), so any difference
is a finding; a result marked ``unproven`` (the wall-clock safety net fired) is compared with the
documented fallback, the greedy orders.  Only CBC's ``time_limit`` results can legitimately
differ on another machine; their status says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from clearing.bundle import InputBundle, ResultBundle, bundle_hash
from clearing.encoding import hex32
from clearing.engine import ORDER_LEAF_ENCODING, ZERO_ROOT, clear, clear_fallback, order_leaf
from clearing.errors import ClearingError
from clearing.evaluation import evaluate
from clearing.merkle import StandardMerkleTree, verify_proof
from clearing.prepare import prepare
from clearing.units import PPM
from clearing.validation import BundleValidationError, validate_bundle

__all__ = ["Difference", "Recomputation", "published_welfare", "recompute", "verify"]


@dataclass(frozen=True, order=True)
class Difference:
    """One finding: where (``$.orders[3].payment_cap_units``) and what differs."""

    path: str
    reason: str
    expected: str = ""
    actual: str = ""


def _diff(path: str, exp: Any, act: Any, out: list[Difference]) -> None:
    if isinstance(exp, dict) and isinstance(act, dict):
        for key in sorted(set(exp) | set(act)):
            if key not in act:
                out.append(Difference(f"{path}.{key}", "missing", repr(exp[key]), ""))
            elif key not in exp:
                out.append(Difference(f"{path}.{key}", "unexpected field", "", repr(act[key])))
            else:
                _diff(f"{path}.{key}", exp[key], act[key], out)
    elif isinstance(exp, list | tuple) and isinstance(act, list | tuple):
        if len(exp) != len(act):
            out.append(Difference(path, "length differs", str(len(exp)), str(len(act))))
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            _diff(f"{path}[{i}]", e, a, out)
    elif exp != act or type(exp) is not type(act):
        out.append(Difference(path, "differs from recomputation", repr(exp), repr(act)))


@dataclass(frozen=True)
class Recomputation:
    """The auditor's recomputation: the differences, its own result (None when the input is
    invalid or cannot be cleared) and the welfare of the published orders evaluated on the
    input (None when they are not exactly what the input gives for their activations)."""

    differences: list[Difference]
    expected: ResultBundle | None
    published_welfare_units: int | None


def verify(
    input_bundle: InputBundle | Mapping[str, Any], result_bundle: ResultBundle | Mapping[str, Any]
) -> list[Difference]:
    """Recompute the clearing and report every difference (empty list = verified)."""
    return recompute(input_bundle, result_bundle).differences


def recompute(
    input_bundle: InputBundle | Mapping[str, Any], result_bundle: ResultBundle | Mapping[str, Any]
) -> Recomputation:
    """:func:`verify` keeping what an objective-bound check needs (see ``Recomputation``)."""
    try:
        bundle = validate_bundle(input_bundle)
    except BundleValidationError as exc:
        diffs = [Difference(f"input{p.path[1:]}", p.reason) for p in exc.problems]
        return Recomputation(diffs, None, None)
    try:
        result = (
            result_bundle
            if isinstance(result_bundle, ResultBundle)
            else ResultBundle.model_validate(result_bundle)
        )
    except ValidationError as exc:
        diffs = [
            Difference("$." + ".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()
        ]
        return Recomputation(diffs, None, None)
    out: list[Difference] = []
    _independent_checks(bundle, result, out)
    welfare = published_welfare(bundle, result)
    try:
        expected = clear_fallback(bundle) if result.status == "unproven" else clear(bundle)
    except ClearingError as exc:
        out.append(Difference("$", f"re-clearing failed: {exc}"))
        return Recomputation(out, None, welfare)
    _diff("$", expected.model_dump(mode="python"), result.model_dump(mode="python"), out)
    return Recomputation(out, expected, welfare)


def published_welfare(bundle: InputBundle, result: ResultBundle) -> int | None:
    """Welfare (value - cost, units) of the published orders' activations on this input, when
    the published orders are exactly what those activations give; else None."""
    prep = prepare(bundle)
    index = {(o.offer_id, o.option_ref): o.index for o in prep.options}
    activations: dict[int, int] = {}
    for o in result.orders:
        k = index.get((o.offer_id, o.option_ref))
        if k is None or k in activations:
            return None
        activations[k] = o.activation_ppm
    ev = evaluate(prep, activations)
    return ev.welfare_units if tuple(ev.orders) == tuple(result.orders) else None


def _independent_checks(b: InputBundle, r: ResultBundle, out: list[Difference]) -> None:
    if r.input_hash != hex32(bundle_hash(b)):
        out.append(Difference("$.input_hash", "does not match the input bundle"))
    if r.session_id != b.session_id:
        out.append(Difference("$.session_id", "does not match the input bundle"))
    orders = list(r.orders)
    if orders:
        tree = StandardMerkleTree.of([order_leaf(o) for o in orders], ORDER_LEAF_ENCODING)
        root = hex32(tree.root)
    else:
        root = ZERO_ROOT
    if r.orders_root != root:
        out.append(Difference("$.orders_root", "is not the Merkle root of the orders", root))
    by_id = {o.order_id: o for o in orders}
    root_b = bytes.fromhex(r.orders_root[2:]) if r.orders_root.startswith("0x") else b""
    for i, group in enumerate(r.fsp_proofs):
        for j, item in enumerate(group.orders):
            order = by_id.get(item.order_id)
            path = f"$.fsp_proofs[{i}].orders[{j}]"
            if order is None or order.fsp != group.fsp:
                out.append(Difference(path, "names no order of this FSP"))
                continue
            proof = [bytes.fromhex(p[2:]) for p in item.proof]
            if not verify_proof(root_b, ORDER_LEAF_ENCODING, order_leaf(order), proof):
                out.append(Difference(path, "proof does not verify against orders_root"))
    caps: dict[tuple[str, str], int] = {}
    spent: dict[str, int] = {}
    offers = {o.offer_id: o for o in b.offers}
    requests = {q.request_id: q for q in b.requests}
    for i, o in enumerate(orders):
        caps[(o.request_id, o.fsp)] = caps.get((o.request_id, o.fsp), 0) + o.payment_cap_units
        spent[o.request_id] = spent.get(o.request_id, 0) + o.payment_cap_units
        offer = offers.get(o.offer_id)
        opt = (
            next((x for x in offer.options if x.option_ref == o.option_ref), None)
            if offer
            else None
        )
        if offer is None or opt is None:
            out.append(Difference(f"$.orders[{i}].offer_id", "names no offer option of the input"))
            continue
        if o.fsp != offer.fsp:
            out.append(Difference(f"$.orders[{i}].fsp", "differs from the offer's FSP"))
        if not opt.min_activation_ppm <= o.activation_ppm <= PPM:
            out.append(Difference(f"$.orders[{i}].activation_ppm", "outside [min activation, 1]"))
        offered = {x.isp_index: x.power_w for x in opt.isps}
        for j, isp in enumerate(o.isps):
            if isp.power_w > offered.get(isp.isp_index, 0):
                out.append(Difference(f"$.orders[{i}].isps[{j}].power_w", "exceeds the offer"))
        if o.price_per_mwh < opt.price_per_mwh:
            out.append(Difference(f"$.orders[{i}].price_per_mwh", "below the offer price"))
        req = requests.get(o.request_id)
        if req is None:
            out.append(Difference(f"$.orders[{i}].request_id", "names no request of the input"))
        elif o.price_per_mwh > req.max_price_per_mwh:
            out.append(Difference(f"$.orders[{i}].price_per_mwh", "above the request's max price"))
    published = {(c.request_id, c.fsp): c.payment_cap_units for c in r.payment_caps}
    if published != caps:
        out.append(Difference("$.payment_caps", "do not equal the sums of order payment caps"))
    for rid, total in sorted(spent.items()):
        req = requests.get(rid)
        if req is not None and total > req.budget_units:
            out.append(Difference(f"$.payment_caps[{rid}]", "exceed the request's budget"))
