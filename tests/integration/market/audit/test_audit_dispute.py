"""Disputes: the auditor verifies the arbiter's resolution against its own recomputation.

One station's meter goes quiet during delivery, so the oracle attests honestly from fewer
readings and that FSP is paid less. The FSP disputes inside the challenge window with its
station's signed readings; the arbiter recomputes with them, resolves on-chain and publishes the
corrected delivery bundle (``resolution.json``). An honest resolution passes the audit; an
arbiter whose corrected root or payouts are not the recomputation is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Route, audit, codes, stage
from eth_utils.crypto import keccak

from clearing.encoding import keccak256
from clearing.settlement.delivery import DeliveryOutcome, recompute_with_evidence
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.rules import SettlementRules
from market.audit.staging import StagedSession, Tamper

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass
class Disputed:
    staged: StagedSession
    route: Route
    arbiter: str
    evidence: list[SignedMeterReading]
    outcome: DeliveryOutcome  # the honest recomputation with the evidence


def _disputed(chain: Any, tmp_path: Path) -> Disputed:
    """A session attested without one station's delivery-window readings, then disputed."""
    folder = tmp_path / "bundles"
    folder.mkdir()
    route = Route(name="dir", folder=folder, bundles=str(folder))
    withheld: list[SignedMeterReading] = []

    def meter_goes_quiet(readings: list[SignedMeterReading]) -> list[SignedMeterReading]:
        station = readings[0].station
        start = min(r.timestamp for r in readings if r.station == station)
        quiet = [r for r in readings if r.station == station and r.timestamp > start + 2 * 900]
        withheld.extend(quiet)
        return [r for r in readings if r not in quiet]

    staged = stage(chain, route, Tamper(sent=meter_goes_quiet), finalize=False)
    assert withheld and staged.delivery is not None
    market, op = chain.contracts.market, chain.addresses["operator"]
    arbiter = chain.addresses["outsider"]
    role = [market.role("ARBITER")]
    market.register_participant(arbiter, keccak(text="arbiter"), role, sender=op)
    fsp = next(a for a in chain.addresses.values() if a.lower() == _owner(route, withheld[0]))
    market.dispute(staged.onchain_id, keccak256(b"meter offline"), sender=fsp)
    delivery = json.loads(staged.delivery.bundle_bytes)
    outcome = recompute_with_evidence(
        delivery,
        withheld,
        list(staged.result.orders),
        SettlementRules.model_validate(delivery["report"]["rules"]),
        _keys(route),
    )
    assert outcome.report.payout_vector() != staged.delivery.report.payout_vector()
    return Disputed(staged, route, arbiter, withheld, outcome)


def _registry(route: Route) -> list[dict[str, Any]]:
    assets: list[dict[str, Any]] = json.loads((route.folder / "stations.json").read_text())
    return assets


def _keys(route: Route) -> dict[str, str]:
    return {a["station_id"]: a["meter_public_key"] for a in _registry(route)}


def _owner(route: Route, reading: SignedMeterReading) -> str:
    return str(next(a["owner"] for a in _registry(route) if a["station_id"] == reading.station))


def _resolve(chain: Any, d: Disputed, root: str, payouts: list[int], bundle: bytes) -> None:
    chain.contracts.market.resolve(
        d.staged.onchain_id, bytes.fromhex(root.removeprefix("0x")), payouts, sender=d.arbiter
    )
    d.staged.path("resolution").write_bytes(bundle)


def test_honest_dispute_resolution_passes(chain: Any, tmp_path: Path) -> None:
    d = _disputed(chain, tmp_path)
    o = d.outcome
    _resolve(chain, d, o.report.root, o.report.payout_vector(), o.bundle_bytes)
    report = audit(chain, d.route, d.staged)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    dispute = session.check("dispute")
    assert dispute.status == "pass"
    assert f"{len(d.evidence)} evidence reading(s)" in dispute.notes[0]


def test_arbiter_posting_another_root_is_named(chain: Any, tmp_path: Path) -> None:
    d = _disputed(chain, tmp_path)
    o = d.outcome
    _resolve(chain, d, "0x" + "ab" * 32, o.report.payout_vector(), o.bundle_bytes)
    report = audit(chain, d.route, d.staged)
    assert report.exit_code == 1
    found = [f for f in report.findings if f.code == "dispute.root_mismatch"]
    assert [f.subject for f in found] == [d.arbiter.lower()]


def test_arbiter_paying_more_than_the_recomputation_is_named(chain: Any, tmp_path: Path) -> None:
    d = _disputed(chain, tmp_path)
    o = d.outcome
    payouts = o.report.payout_vector()
    reserved = [r.amount for r in chain.contracts.market.reservations(d.staged.onchain_id)[0]]
    i = next(i for i, (p, cap) in enumerate(zip(payouts, reserved, strict=True)) if p < cap)
    payouts[i] += 1
    _resolve(chain, d, o.report.root, payouts, o.bundle_bytes)
    report = audit(chain, d.route, d.staged)
    assert report.exit_code == 1
    found = [f for f in report.findings if f.code == "dispute.payout_above_recomputed"]
    assert [f.subject for f in found] == [d.arbiter.lower()]
    assert "delivery.payout_above_recomputed" not in codes(report)  # the oracle was honest


def test_arbiter_adding_readings_nobody_signed_is_named(chain: Any, tmp_path: Path) -> None:
    """A resolution built on forged evidence: its report is not what the real keys give."""
    d = _disputed(chain, tmp_path)
    forged = [r.model_copy(update={"signature": "0x" + "11" * 65}) for r in d.evidence]
    delivery = json.loads(d.staged.delivery.bundle_bytes)  # type: ignore[union-attr]
    bad = recompute_with_evidence(
        delivery,
        forged,
        list(d.staged.result.orders),
        SettlementRules.model_validate(delivery["report"]["rules"]),
        {},  # the arbiter trusts no key: every reading counts as unverified
    )
    _resolve(chain, d, bad.report.root, bad.report.payout_vector(), bad.bundle_bytes)
    report = audit(chain, d.route, d.staged)
    assert report.exit_code == 1
    assert {"dispute.report_differs", "dispute.root_mismatch"} <= codes(report)


def test_resolution_bundle_not_published_is_an_error(chain: Any, tmp_path: Path) -> None:
    d = _disputed(chain, tmp_path)
    o = d.outcome
    _resolve(chain, d, o.report.root, o.report.payout_vector(), o.bundle_bytes)
    d.staged.path("resolution").unlink()
    report = audit(chain, d.route, d.staged)
    assert report.exit_code == 2
    (session,) = report.sessions
    assert session.error_codes == ["dispute.resolution_missing"]
