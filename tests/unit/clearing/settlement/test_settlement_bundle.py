"""Delivery bundle: deterministic bytes, byte-for-byte recompute, root and proofs."""

from __future__ import annotations

import json

from eth_account import Account
from settlement_helpers import (
    FSP,
    ISP_S,
    SESSION_START,
    address_of,
    make_inputs,
    make_order,
    make_prognosis,
    profile_readings,
    uid,
)

from clearing.encoding import canonical_json, uuid_to_bytes32
from clearing.merkle import verify_proof
from clearing.settlement.delivery import (
    LEAF_ENCODING,
    order_leaf,
    recompute_report,
    report_root,
    verify_delivery_bundle,
)
from clearing.settlement.delivery import compute_delivery as settle
from clearing.settlement.meter import sign_reading
from clearing.settlement.rules import SettlementRules

PRICE = 100_000_000
METERS = [("CS-A", 1), ("CS-B", 1)]
KEYS = {"CS-A": address_of("CS-A"), "CS-B": address_of("CS-B")}
RULES = SettlementRules(max_gap_s=1_800, penalty_factor_ppm=1_500_000)
FSP2 = "0x" + "cd" * 20


def scenario():
    rs = []
    for station, evse in METERS:
        rs += profile_readings(
            station, evse, SESSION_START, [5_000] * 4 + [2_000, 4_000] + [5_000] * 2
        )
    rs.append(
        sign_reading(
            Account.create().key,
            station="CS-A",
            evse=1,
            timestamp=SESSION_START + 5 * ISP_S,
            import_wh=1,
            export_wh=0,
        )
    )
    o1 = make_order("o1", isps={4: 6_000, 5: 6_000}, price_per_mwh=PRICE, payment_cap_units=300_000)
    o2 = make_order(
        "o2",
        isps={4: 2_000, 5: 2_000},
        price_per_mwh=PRICE,
        payment_cap_units=100_000,
        request="request-2",
    )
    inputs = make_inputs(
        rs,
        METERS,
        reservations=[
            ("request-2", FSP, 100_000),
            ("request-1", FSP, 300_000),
            ("request-1", FSP2, 0),
        ],
        budgets=[("request-1", 500_000), ("request-2", 250_000)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    return inputs, [o1, o2]


def test_bundle_recomputes_byte_for_byte_and_hashes_to_root() -> None:
    inputs, orders = scenario()
    outcome = settle(inputs, orders, RULES, KEYS)
    bundle = outcome.bundle_bytes
    # Deterministic: same inputs (orders in any order) give the same bytes.
    assert settle(inputs, orders[::-1], RULES, KEYS).bundle_bytes == bundle
    assert recompute_report(bundle, orders, RULES, KEYS) == outcome.report_bytes
    published = json.loads(bundle)
    assert canonical_json(published["report"]) == outcome.report_bytes
    assert canonical_json(published) == bundle
    assert report_root(published["report"]) == outcome.report.root
    assert (
        verify_delivery_bundle(bundle, orders, RULES, KEYS, expected_root=outcome.report.root) == []
    )
    # Payouts follow the on-chain reservation order, including the zero line.
    assert [(p.request_id, p.fsp) for p in outcome.report.payouts] == [
        (uid("request-2"), FSP),
        (uid("request-1"), FSP),
        (uid("request-1"), FSP2),
    ]
    assert outcome.report.payouts[2].payout_units == 0
    assert [f.code for f in outcome.report.findings] == ["bad_signature"]


def test_every_order_leaf_proves_against_the_root() -> None:
    inputs, orders = scenario()
    outcome = settle(inputs, orders, RULES, KEYS)
    root = bytes.fromhex(outcome.report.root[2:])
    evidence = bytes.fromhex(outcome.report.evidence_hash[2:])
    for o in outcome.report.orders:
        leaf = order_leaf(o, inputs.session_id, evidence)
        assert leaf[1] == uuid_to_bytes32(o.order_id)
        proof = [bytes.fromhex(p[2:]) for p in outcome.proof(o.order_id)]
        assert verify_proof(root, LEAF_ENCODING, leaf, proof)


def test_tampering_is_detected() -> None:
    inputs, orders = scenario()
    outcome = settle(inputs, orders, RULES, KEYS)
    bundle = json.loads(outcome.bundle_bytes)
    # 1. a changed payout in the published report
    forged = json.loads(outcome.bundle_bytes)
    forged["report"]["orders"][0]["payout_units"] += 1
    problems = verify_delivery_bundle(
        forged, orders, RULES, KEYS, expected_root=outcome.report.root
    )
    assert any(p.startswith("report:") for p in problems)
    assert any(p.startswith("root:") for p in problems)
    # 2. a changed (unsigned-by-station) reading in the inputs
    forged = json.loads(outcome.bundle_bytes)
    forged["inputs"]["readings"][3]["import_wh"] += 100
    assert recompute_report(forged, orders, RULES, KEYS) != outcome.report_bytes
    assert verify_delivery_bundle(forged, orders, RULES, KEYS) != []
    # 3. different rules than the published ones
    other = RULES.model_copy(update={"delivery_tolerance_ppm": 0})
    assert verify_delivery_bundle(bundle, orders, other, KEYS) != []
