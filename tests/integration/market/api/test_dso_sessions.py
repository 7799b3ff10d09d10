"""A DSO opens its own intraday sessions, within the operator's bounds; every refusal named.

Real anvil and store: the DSO role is read from the chain, the refused session is not stored.
"""

from __future__ import annotations

import dataclasses

import pytest
from market_helpers import make_worker, new_id, setup_market

from market.api.problems import problem_type
from market.api.schemas import SessionCreate
from market.client import ApiError
from market.core.session_policy import DsoSessionPolicy

pytestmark = pytest.mark.integration


def _intraday(now: int, *, gate_in_s: int = 600, lead_s: int = 900, length_s: int = 3600):
    gate = now + gate_in_s
    return SessionCreate(
        session_id=new_id(),
        gate_closure=gate,
        delivery_start=gate + lead_s,
        delivery_end=gate + lead_s + length_s,
        isp_s=900,
        challenge_window_s=300,
    )


@pytest.fixture
def allowed(runtime):
    runtime.core.dso_sessions = DsoSessionPolicy(enabled=True)
    return runtime


def _refused(call, status: int, slug: str, field: str) -> None:
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.status == status, err.value.problem
    assert err.value.type == problem_type(slug), err.value.problem
    assert err.value.field == field, err.value.problem


def test_dso_opens_an_intraday_session_that_the_worker_opens_on_chain(allowed, clients) -> None:
    op, dso = clients("operator"), clients("dso")
    setup_market(op)
    body = _intraday(int(allowed.core.clock.now()))
    dso.create_session(body)
    make_worker(allowed).run_once()
    assert op.session(body.session_id)["state"] == "OPEN"


def test_dso_sessions_are_refused_unless_the_operator_allows_them(runtime, clients) -> None:
    dso = clients("dso")
    before = runtime.core.count_rows()
    _refused(
        lambda: dso.create_session(_intraday(int(runtime.core.clock.now()))),
        403,
        "forbidden",
        "kind",
    )
    assert runtime.core.count_rows() == before


@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ({"lead_s": 7200}, "body.gate_closure"),  # a day-ahead lead: the operator's
        ({"gate_in_s": 30}, "body.gate_closure"),  # gate closes too soon after opening
        ({"length_s": 5 * 3600}, "body.delivery_end"),  # delivery too long
        ({"gate_in_s": 2 * 86400}, "body.delivery_start"),  # too far ahead
    ],
)
def test_dso_session_outside_the_bounds_is_refused(allowed, clients, shape, field) -> None:
    dso = clients("dso")
    before = allowed.core.count_rows()
    body = _intraday(int(allowed.core.clock.now()), **shape)
    _refused(lambda: dso.create_session(body), 422, "invalid-message", field)
    assert allowed.core.count_rows() == before


def test_operator_is_not_bounded_and_fsp_may_not_open_sessions(allowed, clients) -> None:
    op, fsp = clients("operator"), clients("fsp_a")
    now = int(allowed.core.clock.now())
    op.create_session(_intraday(now, lead_s=86400))  # day-ahead: fine for the operator
    _refused(lambda: fsp.create_session(_intraday(now)), 403, "role-required", "signer")
    policy = dataclasses.replace(allowed.core.dso_sessions, max_delivery_s=900)
    allowed.core.dso_sessions = policy
    _refused(
        lambda: clients("dso").create_session(_intraday(now)),
        422,
        "invalid-message",
        "body.delivery_end",
    )
