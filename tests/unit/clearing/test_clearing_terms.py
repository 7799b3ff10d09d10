"""Session terms: one canonical document whose keccak256 is the on-chain termsHash."""

from __future__ import annotations

import json

from clearing.bundle import InputBundle, MarketRules, with_committed_terms
from clearing.settlement.rules import SettlementRules
from clearing.terms import CongestionPoint, SessionTerms, SolverTerms
from clearing.trust import canonical_json, keccak256

SID = "6f1c1f57-3c2a-4f39-9a4e-0d0bb0d1a001"
GOLDEN = "65e5ba7f65488e06eb50ea8f8ed99a62bad3aae8dca3670b3cb7b12a2a1c7c75"


def terms(**change: object) -> SessionTerms:
    base = SessionTerms(
        session_id=SID,
        gate_closure=1_000,
        delivery_start=1_900,
        delivery_end=1_900 + 4 * 900,
        isp_s=900,
        challenge_window_s=600,
        meter_grace_s=60,
        congestion_points=(CongestionPoint(code="EAN-1", max_increase_w=50_000),),
        settlement=SettlementRules(),
    )
    return base.model_copy(update=change)


def test_hash_is_keccak_of_the_canonical_json_and_pinned() -> None:
    t = terms()
    assert t.terms_hash() == keccak256(canonical_json(json.loads(t.to_canonical())))
    # golden vector: a change to the format (field, default, encoding) changes every hash
    assert t.terms_hash().hex() == GOLDEN
    assert terms(pricing_rule="pay_as_clear").terms_hash() != t.terms_hash()


def test_round_trip_from_published_bytes() -> None:
    t = terms()
    assert SessionTerms.model_validate_json(t.to_canonical()) == t


def test_valid_terms_have_no_problems() -> None:
    assert terms().problems() == []


def test_problems_name_each_broken_rule() -> None:
    bad = terms(
        solver=SolverTerms(mip_gap_ppm=50_000, time_limit_s=3_600),
        settlement=SettlementRules(isp_s=1_800),
        delivery_end=1_900 + 1_000,
    )
    fields = [f for f, _ in bad.problems()]
    assert fields == [
        "solver.mip_gap_ppm",
        "solver.time_limit_s",
        "settlement.isp_s",
        "delivery_end",
    ]


def test_input_bundle_without_terms_keeps_its_old_bytes() -> None:
    b = InputBundle(session_id=SID, isp_count=4, start_time=1_900)
    assert b"terms" not in b.to_canonical()
    with_terms = b.model_copy(update={"terms": terms()})
    again = InputBundle.model_validate_json(with_terms.to_canonical())
    assert again.terms == terms()


def test_with_committed_terms_takes_every_fixed_field_from_the_terms() -> None:
    swapped = InputBundle(
        session_id=SID,
        isp_count=2,
        start_time=2_800,
        rules=MarketRules(pricing_rule="pay_as_clear", mip_gap_ppm=500_000, time_limit_s=999),
        terms=terms(),
    )
    c = with_committed_terms(swapped)
    assert (c.start_time, c.isp_s, c.isp_count) == (1_900, 900, 4)
    assert (c.rules.pricing_rule, c.rules.mip_gap_ppm, c.rules.time_limit_s) == (
        "pay_as_bid",
        1_000,
        60,
    )
    assert c.congestion_points == terms().congestion_points
    assert with_committed_terms(swapped.model_copy(update={"terms": None})).start_time == 2_800


def test_readings_digests_term_changes_the_hash_only_when_set() -> None:
    t = terms()
    assert terms(readings_digests_required=False).terms_hash().hex() == GOLDEN
    on = terms(readings_digests_required=True)
    assert on.terms_hash() != t.terms_hash()
    assert json.loads(on.to_canonical())["readings_digests_required"] is True
    assert "readings_digests_required" not in json.loads(t.to_canonical())
    assert SessionTerms.model_validate_json(on.to_canonical()) == on
    bundle = InputBundle(session_id=SID, isp_count=4, start_time=1_900, terms=t)
    assert "readings_digests_required" not in json.loads(bundle.to_canonical())["terms"]
