"""An operator dishonest from the start: it commits session terms at creation, then clears or
settles under other ones while every bundle it publishes stays consistent with the chain's
hashes.  Each swapped term class ends in exit 1 with a finding naming the class; the honest
twin (same staging, no tamper) exits 0 with the terms check passing.
"""

from __future__ import annotations

from typing import Any

import pytest
from audit_helpers import Route, audit, codes, stage

from clearing.bundle import CongestionPoint, InputBundle
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.audit.staging import Tamper

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _rules(bundle: InputBundle, **change: Any) -> InputBundle:
    """The input bundle cleared under other rules; its terms (the committed ones) untouched."""
    return bundle.model_copy(update={"rules": bundle.rules.model_copy(update=change)})


def _audit_codes(chain: Any, route: Route, tamper: Tamper) -> tuple[int, Any]:
    staged = stage(chain, route, tamper)
    report = audit(chain, route, staged)
    return report.exit_code, report


def test_honest_twin_passes_the_terms_check(chain, route) -> None:
    staged = stage(chain, route)
    assert staged.terms is not None
    onchain = chain.contracts.market.session(staged.onchain_id)
    assert onchain.terms_hash == staged.terms.terms_hash()  # committed at createSession
    assert staged.input.terms == staged.terms  # the input bundle carries the preimage
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.check("terms").status == "pass"


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_pricing_rule_swapped_at_clearing(chain, route) -> None:
    tamper = Tamper(input_bundle=lambda b: _rules(b, pricing_rule="pay_as_clear"))
    exit_code, report = _audit_codes(chain, route, tamper)
    assert exit_code == 1
    found = codes(report)
    assert "terms.pricing_rule_swapped" in found, report.to_json()
    # the recomputation under the committed pay-as-bid rule disagrees with the result too
    assert "clearing.result_differs" in found or "clearing.order_differs" in found


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_terms_preimage_rewritten_to_match_the_swap(chain, route) -> None:
    """The operator also rewrites the published terms: they no longer hash to the chain's."""

    def swap(b: InputBundle) -> InputBundle:
        assert b.terms is not None
        terms = b.terms.model_copy(update={"pricing_rule": "pay_as_clear"})
        return _rules(b, pricing_rule="pay_as_clear").model_copy(update={"terms": terms})

    exit_code, report = _audit_codes(chain, route, Tamper(input_bundle=swap))
    assert exit_code == 1
    hashes = [f for f in report.findings if f.code == "terms.hash_mismatch"]
    assert [f.subject for f in hashes] == ["input"], report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_start_time_shifted_in_the_input_bundle(chain, route) -> None:
    tamper = Tamper(input_bundle=lambda b: b.model_copy(update={"start_time": b.start_time + 900}))
    exit_code, report = _audit_codes(chain, route, tamper)
    assert exit_code == 1
    subjects = {f.subject for f in report.findings if f.code == "terms.window_swapped"}
    assert subjects == {"start_time"}, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_terms_schedule_differs_from_the_chain(chain, route) -> None:
    """Committed terms that name another delivery window and ISP than createSession."""

    def shift(t: SessionTerms) -> SessionTerms:
        rules = t.settlement.model_copy(update={"isp_s": 1800})
        return t.model_copy(
            update={
                "delivery_start": t.delivery_start + 900,
                "delivery_end": t.delivery_end + 900,
                "isp_s": 1800,
                "settlement": rules,
            }
        )

    exit_code, report = _audit_codes(chain, route, Tamper(terms=shift))
    assert exit_code == 1
    subjects = {f.subject for f in report.findings if f.code == "terms.schedule_mismatch"}
    assert {"delivery_start", "delivery_end", "isp_s"} <= subjects, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
@pytest.mark.parametrize(
    ("change", "subject"),
    [({"mip_gap_ppm": 500_000}, "mip_gap_ppm"), ({"time_limit_s": 3_600}, "time_limit_s")],
)
def test_solver_relaxed_at_clearing(chain, route, change: dict[str, int], subject: str) -> None:
    exit_code, report = _audit_codes(
        chain, route, Tamper(input_bundle=lambda b: _rules(b, **change))
    )
    assert exit_code == 1
    subjects = {f.subject for f in report.findings if f.code == "terms.solver_swapped"}
    assert subjects == {subject}, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_relaxed_gap_committed_openly_is_out_of_bounds(chain, route) -> None:
    """A gap above the fixed bound, committed and used consistently, is still named."""

    def relax_terms(t: SessionTerms) -> SessionTerms:
        return t.model_copy(update={"solver": t.solver.model_copy(update={"mip_gap_ppm": 200_000})})

    tamper = Tamper(terms=relax_terms, input_bundle=lambda b: _rules(b, mip_gap_ppm=200_000))
    exit_code, report = _audit_codes(chain, route, tamper)
    assert exit_code == 1
    bounds = [f for f in report.findings if f.code == "terms.out_of_bounds"]
    assert [f.subject for f in bounds] == ["solver.mip_gap_ppm"], report.to_json()
    found = codes(report)
    assert "terms.solver_swapped" not in found and "terms.hash_mismatch" not in found


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_grid_limit_relaxed_at_clearing(chain, route) -> None:
    def relax(b: InputBundle) -> InputBundle:
        first, *rest = b.congestion_points
        loose = CongestionPoint(code=first.code, max_increase_w=10**9, max_decrease_w=10**9)
        return b.model_copy(update={"congestion_points": (loose, *rest)})

    exit_code, report = _audit_codes(chain, route, Tamper(input_bundle=relax))
    assert exit_code == 1
    subjects = {f.subject for f in report.findings if f.code == "terms.grid_swapped"}
    assert subjects == {"EAN-AUDIT-A"}, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
@pytest.mark.parametrize(
    "change",
    [
        {"delivery_tolerance_ppm": 900_000},
        {"penalty_factor_ppm": 0},
        {"meter_before_window_s": 1_800},
        {"baseline_method": "nominated"},
        {"require_signatures": False},
    ],
    ids=["tolerance", "penalty", "baseline_window", "baseline_method", "signatures"],
)
def test_delivery_rule_chosen_at_attestation(chain, route, change: dict[str, Any]) -> None:
    def choose(rules: SettlementRules) -> SettlementRules:
        return SettlementRules.model_validate({**rules.to_json_obj(), **change})

    exit_code, report = _audit_codes(chain, route, Tamper(settlement_rules=choose))
    assert exit_code == 1
    swapped = {f.subject for f in report.findings if f.code == "terms.delivery_rules_swapped"}
    assert swapped == set(change), report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_attested_before_the_committed_meter_grace(chain, route) -> None:
    """The terms promise an hour for late readings; the oracle attests at delivery end."""
    tamper = Tamper(terms=lambda t: t.model_copy(update={"meter_grace_s": 3_600}))
    exit_code, report = _audit_codes(chain, route, tamper)
    assert exit_code == 1
    assert codes(report) == {"terms.attested_before_grace"}, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_unsigned_readings_allowed_openly_from_the_start_are_named(chain, route) -> None:
    """The operator commits, at creation and consistently, settlement rules that count
    unsigned readings (which anyone could fabricate): paid delivery under them is the finding;
    the honest twin (signatures required) is ``test_honest_twin_passes_the_terms_check``."""
    lax = SettlementRules(isp_s=900, baseline_method="meter_before", require_signatures=False)
    staged = stage(chain, route, rules=lax)
    assert staged.terms is not None and not staged.terms.settlement.require_signatures
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    assert codes(report) == {"terms.signatures_not_required"}, report.to_json()
