"""The clearing certificate (issue 16 item 7): a result naming another solver version is accepted
only when its orders' welfare is within the committed gap of the auditor's recomputed bound.

The dishonest operator clears without one FSP's offers (a worse, but internally consistent
result: every order is exactly what its activation gives on the full input), claims a solver
version the auditor does not run, and posts commitments consistent with that result.
"""

from __future__ import annotations

from typing import Any

import pytest
from audit_helpers import Route, audit, codes, edit_json, stage

from clearing.bundle import ClearingCertificate, InputBundle, ResultBundle
from clearing.encoding import hex32, keccak256
from clearing.engine import clear
from market.audit.staging import Tamper

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLAIMED = "99.0.0 (claimed)"


def _dir(tmp_path: Any) -> Route:
    return Route(name="dir", folder=tmp_path, bundles=str(tmp_path))


def _worse_result_claiming_another_version(version: str | None = CLAIMED) -> Tamper:
    """``version`` None keeps the real version (the claim is then made by other means)."""
    seen: dict[str, InputBundle] = {}

    def keep(bundle: InputBundle) -> InputBundle:
        seen["input"] = bundle
        return bundle

    def worse(_honest: ResultBundle) -> ResultBundle:
        full = seen["input"]
        dropped = sorted({o.fsp for o in full.offers})[0]
        reduced = full.model_copy(
            update={"offers": tuple(o for o in full.offers if o.fsp != dropped)}
        )
        r = clear(reduced)
        return r.model_copy(
            update={
                "input_hash": hex32(keccak256(full.to_canonical())),
                "solver": r.solver.model_copy(update={"version": version or r.solver.version}),
                "certificate": ClearingCertificate(
                    objective_units=r.welfare_units, dual_bound_units=r.welfare_units
                ),
            }
        )

    return Tamper(input_bundle=keep, result=worse)


def test_claimed_solver_version_does_not_excuse_a_worse_objective(chain, tmp_path) -> None:
    route = _dir(tmp_path)
    staged = stage(chain, route, _worse_result_claiming_another_version())
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    found = [f for f in report.findings if f.code == "clearing.objective_below_bound"]
    assert len(found) == 1, report.to_json()
    assert CLAIMED in found[0].message
    assert "clearing.solver_version_mismatch" not in codes(report)


def test_honest_twin_claiming_another_version_with_the_same_orders_passes(chain, tmp_path) -> None:
    route = _dir(tmp_path)
    tamper = Tamper(
        result=lambda r: r.model_copy(
            update={"solver": r.solver.model_copy(update={"version": CLAIMED})}
        )
    )
    staged = stage(chain, route, tamper)
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    clearing = report.sessions[0].check("clearing")
    assert any("results agree" in n for n in clearing.notes), clearing.notes


def test_result_carries_a_certificate_the_auditor_checks(chain, tmp_path) -> None:
    route = _dir(tmp_path)
    staged = stage(chain, route)
    cert = staged.result.certificate
    assert cert is not None and cert.objective_units == staged.result.welfare_units
    assert cert.dual_bound_units is not None and cert.dual_bound_units >= cert.objective_units
    assert audit(chain, route, staged).exit_code == 0

    def inflate(data: dict[str, Any]) -> None:
        data["certificate"]["objective_units"] += 1_000_000

    edit_json(staged.path("result"), inflate)
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    subjects = [f.subject for f in report.findings if f.code == "clearing.certificate_invalid"]
    # the claimed objective is not the orders' welfare, and now exceeds the claimed bound too
    assert subjects == ["$.certificate.objective_units", "$.certificate.dual_bound_units"]


def _claiming_other_limits(result: ResultBundle) -> ResultBundle:
    limits = result.solver.limits
    assert limits is not None
    other = limits.model_copy(update={"heuristics_revision": 1, "wide_rins_gap_ppm": 1_000_000})
    return result.model_copy(update={"solver": result.solver.model_copy(update={"limits": other})})


def test_claimed_other_heuristics_do_not_excuse_a_worse_objective(chain, tmp_path) -> None:
    """Recorded work limits are treated like a version: the welfare verdict still applies."""
    route = _dir(tmp_path)
    worse = _worse_result_claiming_another_version(version=None)
    assert worse.result is not None
    make_worse = worse.result
    tamper = Tamper(
        input_bundle=worse.input_bundle, result=lambda r: _claiming_other_limits(make_worse(r))
    )
    staged = stage(chain, route, tamper)
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    found = [f for f in report.findings if f.code == "clearing.objective_below_bound"]
    assert len(found) == 1, report.to_json()
    assert "heuristics revision 1" in found[0].message


def test_honest_twin_recording_other_heuristics_with_the_same_orders_passes(
    chain, tmp_path
) -> None:
    route = _dir(tmp_path)
    staged = stage(chain, route, Tamper(result=_claiming_other_limits))
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    clearing = report.sessions[0].check("clearing")
    assert any("heuristics revision 1" in n and "results agree" in n for n in clearing.notes)
