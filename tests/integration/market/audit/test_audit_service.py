"""The auditor on a session run by the real market service: sessions found through
``GET /sessions``, bundles through ``GET /sessions/{id}/bundles/{kind}``, an FSP's receipts
from ``GET /sessions/{id}/receipts``. The service attests no delivery yet (no verification
hook), so the session is audited as far as CLEARED."""

from __future__ import annotations

import json

import pytest
from market_helpers import (
    client_for,
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
)

from market.api.schemas import ParticipantCreate
from market.audit.runner import run_audit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_service_session_audits_clean_over_http(chain, runtime, server, tmp_path) -> None:
    op = client_for(server, chain, "operator", runtime)
    dso = client_for(server, chain, "dso", runtime)
    fsp_a = client_for(server, chain, "fsp_a", runtime)
    fsp_b = client_for(server, chain, "fsp_b", runtime)
    setup_market(op)
    for c, name in ((dso, "DSO"), (fsp_a, "EMSP A"), (fsp_b, "Fleet B")):
        c.register_participant(ParticipantCreate(name=name, ean_codes=["EAN-CP-0001"]))
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers_a = [
        make_offer(
            s.session_id, fsp_a.address, expires_at=s.gate_closure, request_id=req.request_id
        ),
        make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure, price=300_000_000),
    ]
    offers_b = [make_offer(s.session_id, fsp_b.address, expires_at=s.gate_closure, power_w=8_000)]
    for o in [*offers_a, *offers_b]:
        (fsp_a if o in offers_a else fsp_b).post_offer(o)
    commit(chain, "fsp_a", s.session_id, offers_a)
    commit(chain, "fsp_b", s.session_id, offers_b)
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()

    fsp_a.sign_in()
    receipts = tmp_path / "receipts.json"
    receipts.write_text(
        json.dumps(
            {
                "session_id": s.session_id,
                "fsp": fsp_a.address,
                "receipts": fsp_a.receipts(s.session_id),
                "offers": [o.model_dump(mode="python") for o in offers_a],
            }
        )
    )
    market = chain.contracts.market.address
    report = run_audit(rpc=chain.node.rpc_url, market=market, bundles=server, receipts=receipts)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.session_id == s.session_id and session.state == "CLEARED"
    status = {c.name: c.status for c in session.checks}
    assert status == {
        "bundle_hashes": "pass",
        "offers": "pass",
        "clearing": "pass",
        "reservations": "pass",
        "delivery": "skip",
        "fsp_data": "skip",
        "readings": "skip",
        "money": "skip",
        "lifecycle": "pass",
        "terms": "pass",
    }
