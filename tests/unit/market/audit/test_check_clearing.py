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
