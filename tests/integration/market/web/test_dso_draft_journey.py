"""A DSO approves on /dso a request its gateway drafted (``requests.approval: manual``).

The gateway (``flexmarket dso run --once``, its own process) forecasts the CIGRE LV
transformer over its limit and posts a draft, escrowing nothing. The DSO signs in on the page,
sees the draft with its reason and forecast, approves it: the page signs the decision, then
signs, escrows on-chain and submits the drafted request from the same wallet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from market_helpers import CP, client_for, make_worker, setup_market

from clearing.encoding import uuid_to_bytes32
from clearing.messages import FlexRequest
from market.api.schemas import SessionCreate

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]


def _gateway_once(tmp: Path, server: str, chain) -> list[dict]:
    cfg = {
        "api_url": server,
        "rpc_url": chain.node.rpc_url,
        "key_env": "DSO_GATEWAY_KEY",
        "grid": {"source": "cigre-lv"},
        # CIGRE LV's static loads put transformer 0 at ~85 %: 80 % makes a congestion
        "congestion_points": [{"code": CP, "element": "transformer", "index": 0, "limit_pct": 80}],
        "budget": {"max_price_per_mwh": 250_000_000, "max_budget_units_per_session": 10**12},
        "requests": {"approval": "manual"},
    }
    path = tmp / "dso.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DSO_GATEWAY_KEY": chain.keys["dso"]}
    cmd = [sys.executable, "-m", "market.cli", "dso", "run", "--config", str(path), "--once"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_dso_approves_its_gateways_draft_and_the_page_escrows_it(
    live_web, chain, runtime, server, tmp_path
) -> None:
    op = client_for(server, chain, "operator", runtime)
    setup_market(op)
    gate = int(runtime.core.clock.now()) + 600
    s = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate + 3600,
        delivery_end=gate + 3600 + 4 * 900,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(s)
    make_worker(runtime).run_once()
    token, dso = chain.contracts.token, chain.addresses["dso"]
    before = token.balance_of(dso)

    (drafted,) = [e for e in _gateway_once(tmp_path, server, chain) if e["event"] == "drafted"]
    draft_id = drafted["request_id"]
    assert op.requests(s.session_id) == [] and token.balance_of(dso) == before

    page = live_web.page
    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#status.ok")
    assert "Sign in as a DSO" in page.locator("#drafts").inner_text()
    page.wait_for_selector("#dev-accounts:not([hidden])")
    page.select_option("#dev-account", dso.lower())
    page.click("#sign-in-dev")
    page.wait_for_selector("#who.ok")

    # the draft appears with what the gateway saw: its reason, forecast and budget
    page.wait_for_selector("#drafts-table")
    row = page.locator("#drafts-table tbody tr")
    text = row.inner_text()
    assert draft_id[:8] in text and f"{CP} UP:" in text and "pending" in text
    assert "ISP 0: " in text and " %" in text and "needs " in text
    budget_units = drafted["budget_units"]
    assert op.requests(s.session_id) == []  # still nothing escrowed or posted

    page.click(f".draft-approve[data-draft='{draft_id}']")
    page.wait_for_selector("#draft-status.ok", timeout=90_000)
    status = page.locator("#draft-status").inner_text()
    assert f"Draft {draft_id} approved" in status and "escrowed (transaction 0x" in status

    # stored as drafted, escrowed on-chain from the DSO's wallet with the same hash
    (stored,) = op.requests(s.session_id)
    request = FlexRequest.model_validate(stored["body"])
    assert request.request_id == draft_id and stored["submitter"].lower() == dso.lower()
    assert request.budget_units == budget_units
    held = runtime.ledger.market.request(uuid_to_bytes32(draft_id))
    assert held.request_hash == request.canonical_hash() and held.dso.lower() == dso.lower()
    assert before - token.balance_of(dso) == budget_units
    page.wait_for_selector("#requests-table >> text=escrowed")
    page.wait_for_selector("#drafts-table >> text=requested")
    assert page.locator(".draft-approve").count() == 0  # decided: no more buttons
    live_web.screenshot("dso-draft-approved")
    live_web.assert_clean()


def test_dso_rejects_a_draft_by_keyboard_and_nothing_is_escrowed(
    live_web, chain, runtime, server, tmp_path
) -> None:
    """Reject signs the decision only; the gateway's next pass drafts nothing more."""
    op = client_for(server, chain, "operator", runtime)
    setup_market(op)
    gate = int(runtime.core.clock.now()) + 600
    s = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate + 3600,
        delivery_end=gate + 3600 + 4 * 900,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(s)
    make_worker(runtime).run_once()
    token, dso = chain.contracts.token, chain.addresses["dso"]
    before = token.balance_of(dso)
    (drafted,) = [e for e in _gateway_once(tmp_path, server, chain) if e["event"] == "drafted"]
    draft_id = drafted["request_id"]

    page = live_web.page
    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.wait_for_selector("#dev-accounts:not([hidden])")
    page.select_option("#dev-account", dso.lower())
    page.click("#sign-in-dev")
    page.wait_for_selector("#drafts-table")
    reject = page.locator(f".draft-reject[data-draft='{draft_id}']")
    reject.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#draft-status.ok")
    assert f"Draft {draft_id} rejected" in page.locator("#draft-status").inner_text()
    page.wait_for_selector("#drafts-table >> text=rejected")
    assert page.locator(".draft-approve").count() == 0
    assert op.requests(s.session_id) == [] and token.balance_of(dso) == before
    again = _gateway_once(tmp_path, server, chain)
    assert not [e for e in again if e["event"] in ("drafted", "requested")]
    live_web.assert_clean()
