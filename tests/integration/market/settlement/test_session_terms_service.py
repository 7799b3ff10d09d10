"""The service fixes a session's terms when it opens: the pricing rule, grid and settlement
rules the worker or the oracle is configured with later cannot change what the session uses.
Real anvil, real store, the API in-process."""

from __future__ import annotations

import json

import pytest
import service_settlement_helpers as helpers
from market_helpers import make_worker
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    deliver,
    readings,
    session_to_delivery,
)

from adapters.chain.types import SessionState
from clearing.bundle import InputBundle
from clearing.encoding import keccak256
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.lifecycle.verification import make_verification_hook

pytestmark = pytest.mark.integration


def test_terms_fixed_at_open_bind_clearing_and_delivery(
    chain, runtime, clients, api, monkeypatch
) -> None:
    opened: list[object] = []

    def worker_that_changes_its_mind(rt):  # type: ignore[no-untyped-def]
        """After the open step, the operator reconfigures: another pricing rule."""
        w = make_worker(rt, settlement_rules=SettlementRules(delivery_tolerance_ppm=10_000))
        run_once = w.run_once

        def run() -> int:
            done = run_once()
            if not opened:
                opened.append(True)
                w.pricing_rule = "pay_as_clear"
            return done

        w.run_once = run  # type: ignore[method-assign]
        return w

    monkeypatch.setattr(helpers, "make_worker", worker_that_changes_its_mind)
    s, _req, worker = session_to_delivery(chain, runtime, clients)

    raw_terms = api.get(f"/sessions/{s.session_id}/bundles/terms").content
    terms = SessionTerms.model_validate_json(raw_terms)
    assert runtime.ledger.session(s.session_id).terms_hash == keccak256(raw_terms)
    assert terms.pricing_rule == "pay_as_bid"
    assert terms.settlement.delivery_tolerance_ppm == 10_000
    assert [c.code for c in terms.congestion_points] == [helpers.CP]

    bundle = InputBundle.model_validate_json(
        api.get(f"/sessions/{s.session_id}/bundles/input").content
    )
    assert bundle.terms == terms
    assert bundle.rules.pricing_rule == "pay_as_bid"  # not the worker's later pay_as_clear

    # The oracle is configured with a generous tolerance at attestation time: ignored.
    start = s.delivery_start
    for station in ("ST-A", "ST-B"):
        deliver(
            runtime, clients, s.session_id, readings(station, start, [BASELINE_W - ORDER_W] * 4)
        )
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=SettlementRules(delivery_tolerance_ppm=900_000),
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    delivery = json.loads(api.get(f"/sessions/{s.session_id}/bundles/delivery").content)
    assert delivery["report"]["rules"] == terms.settlement.to_json_obj()
    assert delivery["report"]["rules"]["delivery_tolerance_ppm"] == 10_000
