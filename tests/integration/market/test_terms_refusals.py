"""A congestion point registered after a session fixed its terms is not part of that session:
a request or an offer there is refused with a named problem (it could never be cleared), and
neither the store nor the chain changes."""

from __future__ import annotations

import pytest
from market_helpers import make_offer, make_request, make_worker, open_session, setup_market

from clearing.encoding import uuid_to_bytes32
from market.api.problems import problem_type
from market.api.schemas import CongestionPointCreate
from market.client import ApiError

pytestmark = pytest.mark.integration

LATE = "EAN-REGISTERED-LATE"


def test_point_registered_after_open_is_refused(chain, runtime, clients) -> None:
    op, dso, fsp_a = clients("operator"), clients("dso"), clients("fsp_a")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()  # the open step fixes the terms (grid: the one point)
    op.create_congestion_point(CongestionPointCreate(code=LATE, name="Feeder 2"))
    before = (
        runtime.core.count_rows(),
        chain.client.block_number(),
        chain.contracts.market.contract.call("session", uuid_to_bytes32(s.session_id)),
    )
    request = make_request(s.session_id, expires_at=s.gate_closure).model_copy(
        update={"congestion_point": LATE}
    )
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure, cp=LATE)
    for call in (lambda: dso.post_request(request), lambda: fsp_a.post_offer(offer)):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 422, err.value.problem
        assert err.value.type == problem_type("unknown-congestion-point")
        assert err.value.field == "body.congestion_point"
        assert "terms" in err.value.problem["detail"]
    after = (
        runtime.core.count_rows(),
        chain.client.block_number(),
        chain.contracts.market.contract.call("session", uuid_to_bytes32(s.session_id)),
    )
    assert after == before


def test_session_with_invalid_terms_is_rejected_before_the_chain(chain, runtime, clients) -> None:
    """A worker configured with a pricing rule the terms do not know: the session is rejected
    with the field named and never created on-chain (nothing to escrow against)."""
    from sqlmodel import Session

    from adapters.chain.types import SessionState
    from market.lifecycle.worker import step_history
    from market.store import models as m

    op = clients("operator")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime, pricing_rule="first_price").run_once()
    with Session(runtime.engine) as db:
        row = db.get(m.MarketSession, s.session_id)
        assert row is not None and row.state == "REJECTED"
    assert runtime.ledger.session(s.session_id).state == SessionState.NONE
    details = [h["detail"] for h in step_history(runtime.engine, s.session_id)]
    assert any("terms are invalid" in d and "pricing_rule" in d for d in details), details
