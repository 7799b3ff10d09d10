"""The delivery bundle: compute it, recompute it from what was published, verify it.

The settlement itself is :func:`~clearing.settlement.compute.compute_delivery` (payment rules
in :mod:`clearing.settlement.compute`); the documents and the Merkle leaf are in
:mod:`clearing.settlement.report`.  This module is the one callers import: it re-exports both
and adds what an auditor or an arbiter does with a published bundle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from clearing.encoding import canonical_json, hex32, keccak256
from clearing.messages import FlexOrder
from clearing.settlement.compute import compute_delivery, required_reading_window
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.report import (
    LEAF_ENCODING,
    REPORT_VERSION,
    DeliveryInputs,
    DeliveryOutcome,
    DeliveryReport,
    IspSettlement,
    OrderSettlement,
    PayoutLine,
    Portfolio,
    RefundLine,
    RequestBudget,
    Reservation,
    order_leaf,
    report_root,
)
from clearing.settlement.rules import SettlementError, SettlementRules

__all__ = [
    "LEAF_ENCODING",
    "REPORT_VERSION",
    "DeliveryInputs",
    "DeliveryOutcome",
    "DeliveryReport",
    "IspSettlement",
    "OrderSettlement",
    "PayoutLine",
    "Portfolio",
    "RefundLine",
    "RequestBudget",
    "Reservation",
    "compute_delivery",
    "order_leaf",
    "recompute_report",
    "recompute_with_evidence",
    "report_root",
    "required_reading_window",
    "verify_delivery_bundle",
]


def _load_bundle(delivery_bundle: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(delivery_bundle, bytes | str):
        loaded = json.loads(delivery_bundle)
        if not isinstance(loaded, dict):
            raise SettlementError("delivery_bundle: not a JSON object")
        return loaded
    return delivery_bundle


def recompute_report(
    delivery_bundle: bytes | str | Mapping[str, Any],
    orders: Sequence[FlexOrder],
    rules: SettlementRules,
    station_keys: Mapping[str, str],
) -> bytes:
    """Recompute the report's canonical bytes from a published bundle's inputs."""
    bundle = _load_bundle(delivery_bundle)
    if "inputs" not in bundle:
        raise SettlementError("delivery_bundle.inputs: missing")
    inputs = DeliveryInputs.model_validate_json(canonical_json(bundle["inputs"]))
    return compute_delivery(inputs, orders, rules, station_keys).report_bytes


def recompute_with_evidence(
    delivery_bundle: bytes | str | Mapping[str, Any],
    evidence: Sequence[SignedMeterReading],
    orders: Sequence[FlexOrder],
    rules: SettlementRules,
    station_keys: Mapping[str, str],
) -> DeliveryOutcome:
    """Dispute resolution: settle again with extra signed readings (e.g. an FSP's own meter
    data filling a gap).  Evidence goes through the same signature checks; readings already
    in the bundle are not duplicated.  The outcome's root and payouts go to ``resolve``."""
    bundle = _load_bundle(delivery_bundle)
    if "inputs" not in bundle:
        raise SettlementError("delivery_bundle.inputs: missing")
    inputs = DeliveryInputs.model_validate_json(canonical_json(bundle["inputs"]))
    known = set(inputs.readings)
    extra = tuple(
        sorted(
            {r for r in evidence if r not in known},
            key=lambda r: (r.station, r.evse, r.timestamp, r.import_wh, r.export_wh, r.signature),
        )
    )
    merged = inputs.model_copy(update={"readings": inputs.readings + extra})
    return compute_delivery(merged, orders, rules, station_keys)


def verify_delivery_bundle(
    delivery_bundle: bytes | str | Mapping[str, Any],
    orders: Sequence[FlexOrder],
    rules: SettlementRules,
    station_keys: Mapping[str, str],
    *,
    expected_root: str | None = None,
) -> list[str]:
    """Problems found when checking a published bundle; an empty list means it verifies."""
    bundle = _load_bundle(delivery_bundle)
    problems: list[str] = []
    try:
        recomputed = recompute_report(bundle, orders, rules, station_keys)
    except (SettlementError, ValueError) as exc:
        return [f"inputs: cannot recompute ({exc})"]
    published = canonical_json(bundle.get("report"))
    if recomputed != published:
        problems.append("report: recomputed bytes differ from the published report")
    report = bundle.get("report") or {}
    try:
        root = report_root(report)
    except (SettlementError, ValueError) as exc:
        return [*problems, f"report: cannot rebuild Merkle tree ({exc})"]
    if root != report.get("root"):
        problems.append(f"report.root: {report.get('root')} but leaves give {root}")
    inputs_hash = hex32(keccak256(canonical_json(bundle.get("inputs"))))
    if inputs_hash != report.get("evidence_hash"):
        problems.append("report.evidence_hash: does not match the bundle's inputs")
    if expected_root is not None and root != expected_root.lower():
        problems.append(f"root: on-chain {expected_root} but bundle gives {root}")
    return problems
