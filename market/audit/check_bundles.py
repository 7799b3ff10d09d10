"""Check 1: the published bundles hash to what the session anchored on-chain."""

from __future__ import annotations

from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.engine import ORDER_LEAF_ENCODING, ZERO_ROOT, order_leaf
from clearing.merkle import StandardMerkleTree
from clearing.settlement.delivery import report_root
from clearing.settlement.rules import SettlementError
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles, root_bytes, uuid32


def check_bundle_hashes(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("bundle_hashes")
    roots = cs.roots
    for kind, err in sb.parse_errors.items():
        res.add("bundle.unparseable", f"{kind} bundle: {err}", kind)
    if sb.input_bytes is not None:
        digest = keccak256(sb.input_bytes)
        if digest != bytes(roots.input_hash):
            res.add(
                "bundle.input_hash_mismatch",
                f"keccak256(input bundle) {hex32(digest)} != on-chain {hex32(roots.input_hash)}",
                "input",
            )
    if sb.input is not None and uuid_to_bytes32(sb.input.session_id) != cs.session_id:
        res.add("bundle.session_mismatch", f"input names session {sb.input.session_id}", "input")
    r = sb.result
    if r is not None:
        if uuid_to_bytes32(r.session_id) != cs.session_id:
            res.add("bundle.session_mismatch", f"result names session {r.session_id}", "result")
        if root_bytes(r.input_hash) != bytes(roots.input_hash):
            res.add(
                "bundle.result_input_hash_mismatch",
                f"result.input_hash {r.input_hash} != on-chain {hex32(roots.input_hash)}",
                "result",
            )
        if root_bytes(r.orders_root) != bytes(roots.result_root):
            res.add(
                "bundle.result_root_mismatch",
                f"result.orders_root {r.orders_root} != on-chain {hex32(roots.result_root)}",
                "result",
            )
        leaves = [order_leaf(o) for o in r.orders]
        root = (
            hex32(StandardMerkleTree.of(leaves, ORDER_LEAF_ENCODING).root) if leaves else ZERO_ROOT
        )
        if root != r.orders_root:
            res.add(
                "bundle.result_root_invalid",
                f"the result's {len(leaves)} orders give root {root}, not {r.orders_root}",
                "result",
            )
    d = sb.delivery
    if d is not None:
        report = d["report"]
        try:
            root = report_root(report)
        except (SettlementError, ValueError, TypeError, KeyError, AttributeError) as exc:
            res.add("bundle.unparseable", f"delivery report: {exc!r}", "delivery")
        else:
            attested_root = cs.attested()[0]  # a resolution's root is checked by check_dispute
            if root_bytes(root) != bytes(attested_root):
                res.add(
                    "bundle.delivery_root_mismatch",
                    f"report leaves give {root} != on-chain {hex32(attested_root)}",
                    "delivery",
                )
            if root != report.get("root"):
                res.add(
                    "bundle.delivery_root_invalid",
                    f"report.root {report.get('root')} but its leaves give {root}",
                    "delivery",
                )
        sid = d["inputs"].get("session_id")
        if sid is not None and (not isinstance(sid, str) or uuid32(sid) != cs.session_id):
            res.add("bundle.session_mismatch", f"delivery names session {sid}", "delivery")
    return res
