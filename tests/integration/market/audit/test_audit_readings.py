"""Completeness of readings (issue 16, item 4): under terms that require readings digests the
station's CPO signs, per station and ISP, the count and Merkle root of the readings it received;
the oracle publishes them and commits their root before attesting.  An operator dishonest from
the start that withholds a reading, lists one twice, or drops, edits or swaps the digests, while
keeping every other bundle consistent with the chain, is named by the auditor (exit 1); the
honest twin passes (exit 0)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from audit_helpers import actors_of, audit, codes, edit_json, small_bundle, stage

from clearing.readings_digest import ReadingsDigest
from clearing.settlement.meter import SignedMeterReading
from clearing.trust import eip191_sign, secp256k1_key
from market.audit.staging import StagedSession, Tamper, stage_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _stage(chain: Any, route: Any, tamper: Tamper | None = None) -> StagedSession:
    actors = dataclasses.replace(actors_of(chain), cpo_key=chain.keys["cpo"])
    return stage(chain, route, tamper, actors_override=actors, readings_digests=True)


def _ordered_station(readings: list[SignedMeterReading]) -> str:
    return sorted({r.station for r in readings})[0]


def _readings_findings(report: Any) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in report.findings if f.code.startswith("readings.")]


def test_honest_twin_passes_with_digests_committed(chain, route) -> None:
    staged = _stage(chain, route)
    assert staged.path("readings").is_file()
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.check("readings").status == "pass", report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_withheld_reading_is_named(chain, route) -> None:
    """The operator leaves out one signed reading of an ordered meter (a lower delivery)."""
    dropped: list[SignedMeterReading] = []

    def withhold(readings: list[SignedMeterReading]) -> list[SignedMeterReading]:
        station = _ordered_station(readings)
        dropped.append([r for r in readings if r.station == station][-2])
        return [r for r in readings if r is not dropped[0]]

    report = audit(chain, route, _stage(chain, route, Tamper(readings=withhold)))
    assert report.exit_code == 1, report.to_json()
    found = _readings_findings(report)
    assert [c for c, _ in found] == ["readings.withheld"], report.to_json()
    assert found[0][1].startswith(dropped[0].station + "@")


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_double_counted_reading_is_named(chain, route) -> None:
    def twice(readings: list[SignedMeterReading]) -> list[SignedMeterReading]:
        station = _ordered_station(readings)
        return [*readings, next(r for r in readings if r.station == station)]

    report = audit(chain, route, _stage(chain, route, Tamper(readings=twice)))
    assert report.exit_code == 1, report.to_json()
    assert [c for c, _ in _readings_findings(report)] == ["readings.double_counted"]


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_missing_digests_are_named(chain, route) -> None:
    """The operator publishes (and commits) the digests without one ordered station's."""
    gone: list[str] = []

    def drop(digests: list[ReadingsDigest]) -> list[ReadingsDigest]:
        counted = sorted({d.station for d in digests if d.count})
        gone.append(counted[0])
        return [d for d in digests if d.station != gone[0]]

    report = audit(chain, route, _stage(chain, route, Tamper(digests=drop)))
    assert report.exit_code == 1, report.to_json()
    found = _readings_findings(report)
    assert found and {c for c, _ in found} == {"readings.digest_missing"}, report.to_json()
    assert {s.split("@")[0] for _, s in found} == {gone[0]}


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_digest_not_matching_its_cpo_signature_is_named(chain, route) -> None:
    """The operator withholds a reading and lowers the digest's count to match it."""

    def withhold(readings: list[SignedMeterReading]) -> list[SignedMeterReading]:
        station = _ordered_station(readings)
        victim = [r for r in readings if r.station == station][-2]
        return [r for r in readings if r is not victim]

    def lower(digests: list[ReadingsDigest]) -> list[ReadingsDigest]:
        station = sorted({d.station for d in digests if d.count})[0]
        # the withheld reading's ISP: the last non-empty one but one of that station
        target = [d for d in digests if d.station == station and d.count][-2]
        return [d.model_copy(update={"count": d.count - 1}) if d is target else d for d in digests]

    report = audit(chain, route, _stage(chain, route, Tamper(readings=withhold, digests=lower)))
    assert report.exit_code == 1, report.to_json()
    found = {c for c, _ in _readings_findings(report)}
    assert "readings.digest_invalid_signature" in found, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_digests_signed_for_another_deployment_are_named(chain, route) -> None:
    """The operator withholds a reading and publishes digests the real CPO signed for another
    market (another chain id: e.g. a test deployment where the reading was absent)."""
    cpo_key = secp256k1_key(chain.keys["cpo"])

    def withhold(readings: list[SignedMeterReading]) -> list[SignedMeterReading]:
        station = _ordered_station(readings)
        victim = [r for r in readings if r.station == station][-2]
        return [r for r in readings if r is not victim]

    def elsewhere(digests: list[ReadingsDigest]) -> list[ReadingsDigest]:
        out = []
        for d in digests:
            moved = d.model_copy(update={"chain_id": d.chain_id + 1, "signature": ""})
            out.append(
                moved.model_copy(update={"signature": eip191_sign(cpo_key, moved.payload())})
            )
        return out

    staged = _stage(chain, route, Tamper(readings=withhold, digests=elsewhere))
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    found = {c for c, _ in _readings_findings(report)}
    assert "readings.digest_wrong_domain" in found, report.to_json()
    assert "readings.digest_invalid_signature" not in found  # the CPO did sign them


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_published_digests_differing_from_the_committed_root_are_named(chain, route) -> None:
    staged = _stage(chain, route)
    edit_json(staged.path("readings"), lambda b: b["digests"].pop(0))
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    assert "readings.root_mismatch" in codes(report), report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_attested_without_committing_the_digests_is_named(chain, route) -> None:
    report = audit(chain, route, _stage(chain, route, Tamper(commit_readings=False)))
    assert report.exit_code == 1, report.to_json()
    assert "readings.not_committed" in codes(report), report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
@pytest.mark.parametrize("content", [b"{not json", b'{"version": 1, "digests": 3}', b"[]"])
def test_malformed_readings_bundle_is_a_finding_not_a_traceback(chain, route, content) -> None:
    staged = _stage(chain, route)
    staged.path("readings").write_bytes(content)
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    (session,) = report.sessions
    check = session.check("readings")
    assert check.status in ("fail", "error"), report.to_json()
    assert {f.code for f in [*check.findings, *check.problems]} & {
        "readings.bundle_invalid",
        "bundle.unreadable",
        "bundle.unsafe",
    }, report.to_json()


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_paid_delivery_under_terms_without_digests_is_named(chain, route) -> None:
    """An operator dishonest from the start leaves readings digests out of the terms it
    commits (hash and preimage consistent): signed readings could then be withheld unseen, so
    paid delivery under such terms is itself the finding; the honest twin is
    ``test_honest_twin_passes_with_digests_committed``."""
    staged = stage(chain, route, readings_digests=False)
    assert staged.terms is not None and not staged.terms.readings_digests_required
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    (session,) = report.sessions
    assert session.check("terms").status == "pass", report.to_json()
    assert [c for c, _ in _readings_findings(report)] == ["readings.digests_not_required"]
    assert session.check("readings").findings[0].subject == staged.session_id


def _no_orders(chain: Any, route: Any, *, readings_digests: bool) -> StagedSession:
    """A session nobody offered in: no order, no reading, nothing paid."""
    actors = actors_of(chain)
    bundle = small_bundle(list(actors.fsps)).model_copy(update={"offers": ()})
    return stage_session(
        market=chain.contracts.market,
        token=chain.contracts.token,
        control=chain.node,
        actors=actors,
        bundle=bundle,
        folder=route.folder,
        readings_digests=readings_digests,
    )


@pytest.mark.parametrize("route", ["dir"], indirect=True)
@pytest.mark.parametrize("readings_digests", [True, False])
def test_session_without_orders_is_no_readings_finding(chain, route, readings_digests) -> None:
    """Nothing ordered, nothing paid: no false finding, with or without digests required."""
    staged = _no_orders(chain, route, readings_digests=readings_digests)
    assert not staged.result.orders
    report = audit(chain, route, staged)
    assert not _readings_findings(report), report.to_json()
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    want = "pass" if readings_digests else "skip"
    assert session.check("readings").status == want, report.to_json()
