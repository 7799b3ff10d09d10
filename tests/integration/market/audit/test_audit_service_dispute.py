"""The auditor on a dispute the real market service resolved, read over HTTP: the attested
bundle from ``GET /sessions/{id}/bundles/delivery``, the arbiter's corrected bundle from
``GET /sessions/{id}/disputes/resolution/bundle``. An honest resolution passes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settlement"))

from service_settlement_helpers import (  # type: ignore[import-not-found]
    BASELINE_W,
    ORDER_W,
    RULES,
    deliver,
    readings,
    register_roles,
    session_to_delivery,
)

from adapters.chain.types import SessionState
from clearing.encoding import keccak256, uuid_to_bytes32
from market.audit.runner import run_audit
from market.clearing_house.service import resolve_dispute
from market.lifecycle.verification import make_verification_hook

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_service_resolved_dispute_audits_clean_over_http(
    chain: Any, runtime: Any, clients: Any, server: str
) -> None:
    arbiter, _ = register_roles(chain)
    s, _, worker = session_to_delivery(chain, runtime, clients)
    start = s.delivery_start
    delivered = [BASELINE_W - ORDER_W] * 4
    deliver(runtime, clients, s.session_id, readings("ST-A", start, delivered))
    full_b = readings("ST-B", start, delivered)
    gap = (start + 1800, start + 3600)  # B's meter misses ISPs 2-3 until its evidence arrives
    deliver(
        runtime, clients, s.session_id, [r for r in full_b if not gap[0] < r.timestamp < gap[1]]
    )
    evidence = [r for r in full_b if gap[0] < r.timestamp < gap[1]]
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    attested = runtime.ledger.payouts(s.session_id).payouts
    chain.contracts.market.dispute(
        uuid_to_bytes32(s.session_id), keccak256(b"meter gap"), sender=chain.addresses["fsp_b"]
    )
    clients("fsp_b").post_dispute_evidence(s.session_id, evidence, reason="meter gap")
    resolve_dispute(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=s.session_id,
        arbiter=arbiter,
    )
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
    assert runtime.ledger.payouts(s.session_id).payouts != attested  # the dispute mattered

    market = chain.contracts.market.address
    report = run_audit(rpc=chain.node.rpc_url, market=market, bundles=server)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    dispute = session.check("dispute")
    assert dispute.status == "pass"
    assert f"{len(evidence)} evidence reading(s); resolved by {arbiter.lower()}" in dispute.notes
