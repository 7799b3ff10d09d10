"""The clearing check names a result published under the safety net's greedy fallback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import clearing.solvers.highs_api as highs_api
from clearing.engine import clear
from clearing.synthetic import generate_session
from market.audit.check_clearing import check_clearing
from market.audit.session_bundles import SessionBundles


@pytest.fixture
def clock_always_late(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A safety-net clock that jumps an hour per reading: the net fires at the first check."""
    ticks = iter(range(0, 10**9, 3600))
    monkeypatch.setattr(highs_api, "_clock", lambda: float(next(ticks)))
    yield


def _bundles() -> SessionBundles:
    bundle = generate_session(120, 3)
    sb = SessionBundles(session_id=bundle.session_id, input_bytes=bundle.to_canonical())
    sb.result_bytes = clear(bundle).to_canonical()
    sb.parse()
    return sb


def _codes(sb: SessionBundles) -> set[str]:
    cs: Any = None  # the clearing check reads only the bundles
    return {f.code for f in check_clearing(cs, sb).findings}


@pytest.mark.usefixtures("clock_always_late")
def test_an_unproven_result_is_a_finding_even_when_it_recomputes() -> None:
    sb = _bundles()
    assert sb.result is not None and sb.result.status == "unproven"
    assert _codes(sb) == {"clearing.unproven"}


def test_a_proven_result_passes() -> None:
    sb = _bundles()
    assert sb.result is not None and sb.result.status != "unproven"
    assert _codes(sb) == set()


def _recomputation(welfare: int, own_welfare: int, bound: int | None) -> Any:
    from clearing.bundle import ClearingCertificate
    from clearing.verifier import Recomputation

    sb = _bundles()
    assert sb.result is not None
    own = sb.result.model_copy(
        update={
            "welfare_units": own_welfare,
            "certificate": ClearingCertificate(objective_units=own_welfare, dual_bound_units=bound),
        }
    )
    return Recomputation([], own, welfare)


@pytest.mark.parametrize(
    ("welfare", "code"),
    [
        (1_000_000, None),  # as good as the recomputation
        (999_999, None),  # within 1000 ppm of the bound 1 001 000 (floor 999 999)
        (999_998, "clearing.objective_below_bound"),
        (1_001_000, None),  # at the bound
        (1_001_001, "clearing.objective_above_bound"),
    ],
)
def test_objective_within_the_committed_gap_of_the_recomputed_bound(
    welfare: int, code: str | None
) -> None:
    from market.audit.check_clearing import _objective_verdict

    verdict = _objective_verdict(_recomputation(welfare, 1_000_000, 1_001_000), 1_000)
    assert (verdict[0] if verdict else None) == code


def test_without_a_bound_the_floor_is_the_recomputed_welfare() -> None:
    from market.audit.check_clearing import _objective_verdict

    assert _objective_verdict(_recomputation(1_000_000, 1_000_000, None), 1_000) is None
    verdict = _objective_verdict(_recomputation(999_999, 1_000_000, None), 1_000)
    assert verdict is not None and verdict[0] == "clearing.objective_below_bound"
