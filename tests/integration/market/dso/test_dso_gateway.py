"""``flexmarket dso run`` as its own process against a real anvil and a served market.

The operator opens a session in Python; the gateway (a subprocess with only its dso.yaml and
its key in the environment) forecasts the CIGRE LV transformer, finds it over its configured
limit, escrows the budget on-chain and publishes the request; a second pass requests nothing
more. A malformed config stops the command with one line naming the field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from market_helpers import CP, commit, make_offer, make_worker, setup_market

from clearing.messages import FlexRequest
from market.api.schemas import SessionCreate
from market.client import MarketClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]
ORDER_W = 5_000


def _config(api: str, rpc: str, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "api_url": api,
        "rpc_url": rpc,
        "key_env": "DSO_GATEWAY_KEY",
        "grid": {"source": "cigre-lv"},
        # CIGRE LV's static loads put transformer 0 at ~85 %: 80 % makes a congestion
        "congestion_points": [{"code": CP, "element": "transformer", "index": 0, "limit_pct": 80}],
        "budget": {"max_price_per_mwh": 250_000_000, "max_budget_units_per_session": 10**12},
    }
    cfg.update(over)
    return cfg


def _dso_run(
    tmp: Path, cfg: dict[str, Any], key: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    path = tmp / "dso.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DSO_GATEWAY_KEY": key}
    cmd = [sys.executable, "-m", "market.cli", "dso", "run", "--config", str(path), *flags]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_dso_gateway_escrows_and_posts_a_request_for_an_open_session(
    chain, runtime, server, tmp_path
) -> None:
    now = runtime.core.clock.now
    op = MarketClient(server, chain.keys["operator"], now=now)
    setup_market(op)
    gate = int(now()) + 600
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate + 3600,
        delivery_end=gate + 3600 + 4 * 900,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(session)
    make_worker(runtime).run_once()
    assert op.session(session.session_id)["state"] == "OPEN"
    token, market = chain.contracts.token, chain.contracts.market
    dso = chain.addresses["dso"]
    dso_before, market_before = token.balance_of(dso), token.balance_of(market.address)

    proc = _dso_run(tmp_path, _config(server, chain.node.rpc_url), chain.keys["dso"], "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    requested = [e for e in _events(proc.stdout) if e["event"] == "requested"]
    assert [e["session_id"] for e in requested] == [session.session_id]
    budget = requested[0]["budget_units"]
    assert budget > 0

    # the budget left the DSO and sits in the market contract
    assert dso_before - token.balance_of(dso) == budget
    assert token.balance_of(market.address) - market_before == budget
    rows = op.requests(session.session_id)
    assert len(rows) == 1
    body = rows[0].get("body", rows[0])
    assert body["request_id"] == requested[0]["request_id"]
    assert body["budget_units"] == budget and body["congestion_point"] == CP
    assert body["direction"] == "UP" and body["expires_at"] == gate
    assert rows[0]["submitter"].lower() == dso.lower()

    # a second pass (a restarted gateway) neither requests nor escrows again
    again = _dso_run(tmp_path, _config(server, chain.node.rpc_url), chain.keys["dso"], "--once")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [e for e in _events(again.stdout) if e["event"] == "requested"]
    assert dso_before - token.balance_of(dso) == budget
    assert len(op.requests(session.session_id)) == 1

    # an FSP answers, the session clears; the restarted gateway logs the orders and the
    # congestion its power flow finds before and after the ordered flexibility
    fsp = MarketClient(server, chain.keys["fsp_a"], now=now)
    offer = make_offer(
        session.session_id,
        fsp.address,
        expires_at=gate,
        request_id=body["request_id"],
        power_w=ORDER_W,
        price=100_000_000,
    )
    fsp.post_offer(offer)
    commit(chain, "fsp_a", session.session_id, [offer])
    chain.warp_to(gate + 1)
    make_worker(runtime).run_once()
    assert op.session(session.session_id)["state"] == "CLEARED"
    after = _dso_run(tmp_path, _config(server, chain.node.rpc_url), chain.keys["dso"], "--once")
    assert after.returncode == 0, after.stderr[-3000:]
    events = _events(after.stdout)
    (cleared,) = [e for e in events if e["event"] == "session"]
    assert cleared["state"] == "CLEARED" and cleared["orders"] == 1
    assert cleared["ordered_w"] == 4 * ORDER_W
    (congestion,) = [e for e in events if e["event"] == "congestion"]
    rows = congestion["rows"]
    assert {r["cp_id"] for r in rows} == {CP} and len(rows) == 4
    for r in rows:
        assert r["violations_before"] > 0
        assert r["max_loading_pct_after"] < r["max_loading_pct_before"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        (
            {"budget": {"max_price_per_mwh": "cheap", "max_budget_units_per_session": 1}},
            "budget.max_price_per_mwh",
        ),
        (
            {"congestion_points": [{"code": CP, "element": "transformer", "index": 9}]},
            "congestion_points[0].index",
        ),
        ({"grid": {"source": "cigre-lv", "load_scale": 2}}, "grid.load_scale"),
    ],
)
def test_malformed_config_is_one_line_naming_the_field(
    tmp_path: Path, over: dict[str, Any], field: str
) -> None:
    proc = _dso_run(
        tmp_path, _config("http://127.0.0.1:9", "http://127.0.0.1:9", **over), "", "--check"
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {field}: ") and proc.stderr.count("\n") == 1
    assert proc.stdout == ""


def test_missing_key_is_named_before_connecting(tmp_path: Path) -> None:
    proc = _dso_run(tmp_path, _config("http://127.0.0.1:9", "http://127.0.0.1:9"), "", "--once")
    assert proc.returncode == 1
    assert proc.stderr == "error: key_env: environment variable DSO_GATEWAY_KEY is not set\n"


def test_running_gateway_opens_intraday_sessions_follows_events_and_writes_statements(
    chain, runtime, server, tmp_path
) -> None:
    """The long-running gateway (its own process, clock: chain) opens the intraday windows
    due, requests in them when the worker opens them (an event, not a poll), and after FINAL
    writes its statements to its output folder."""
    from market_helpers import attest_in_full

    from market.core.session_policy import DsoSessionPolicy

    runtime.core.dso_sessions = DsoSessionPolicy(enabled=True)
    now = runtime.core.clock.now
    op = MarketClient(server, chain.keys["operator"], now=now)
    setup_market(op)
    out = tmp_path / "out"
    cfg = _config(
        server,
        chain.node.rpc_url,
        clock="chain",
        output_dir=str(out),
        schedule={
            "day_ahead": False,
            "intraday": True,
            "poll_s": 60,  # longer than the test: what happens is driven by events
            "intraday_open": {
                "every_s": 3600,
                "delivery_s": 3600,
                "horizon_s": 4560,  # every_s + min gate ahead + gate lead: 1 or 2 windows
                "challenge_window_s": 300,
            },
        },
    )
    path = tmp_path / "dso.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = (tmp_path / "dso.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DSO_GATEWAY_KEY": chain.keys["dso"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "dso", "run", "--config", str(path)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = make_worker(runtime)

    def wait(what, cond, timeout_s: float = 60.0):
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dso.log").read_text()[-3000:]
            got = cond()
            if got:
                return got
            time.sleep(0.2)
        raise AssertionError(f"{what}: {(tmp_path / 'dso.log').read_text()[-3000:]}")

    try:
        rows = wait("the gateway opens the intraday sessions due", op.sessions)
        row = min(rows, key=lambda r: r["delivery_start"])
        sid = row["id"]
        assert len(rows) in (1, 2)
        assert row["state"] == "PENDING"
        assert row["delivery_start"] - row["gate_closure"] == 900
        assert row["delivery_start"] % 3600 == 0
        worker.run_once()  # the worker opens it on-chain: an event the gateway follows
        (req,) = wait("the gateway requests in the first", lambda: op.requests(sid))
        body = req.get("body", req)
        fsp = MarketClient(server, chain.keys["fsp_a"], now=now)
        offer = make_offer(
            sid,
            fsp.address,
            expires_at=row["gate_closure"],
            request_id=body["request_id"],
            power_w=ORDER_W,
            price=100_000_000,
        )
        fsp.post_offer(offer)
        commit(chain, "fsp_a", sid, [offer])
        chain.warp_to(row["gate_closure"] + 1)
        worker.run_once()
        chain.warp_to(row["delivery_end"] + 61)
        attest_in_full(chain, runtime.ledger, sid, b"\x02" * 32)
        worker.run_once()
        chain.warp_to(row["delivery_end"] + 61 + 301)
        worker.run_once()
        assert op.session(sid)["state"] == "FINAL"
        stmt_path = out / "statements" / f"{sid}.json"
        wait("the statements", stmt_path.exists)
        statements = json.loads(stmt_path.read_text())
        assert statements["session_id"] == sid
        (res,) = statements["settlements"]  # the reservation statement of its one request
        assert res["fsp"] == fsp.address and res["reserved_units"] > 0
        assert res["payout_units"] == res["reserved_units"]  # attested in full
        other = MarketClient(server, chain.keys["dso2"], now=now)
        other.sign_in()
        assert other.settlements(sid) == []  # another DSO sees none of it
        events = _events((tmp_path / "dso.log").read_text())
        states = [e["state"] for e in events if e["event"] == "session" and e["session_id"] == sid]
        assert states[-1] == "FINAL" and "CLEARED" in states
        opened = [e["session_id"] for e in events if e["event"] == "opened"]
        assert sorted(opened) == sorted(r["id"] for r in rows)  # each once
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_manual_approval_drafts_instead_of_escrowing_and_the_dso_decides(
    chain, runtime, server, tmp_path
) -> None:
    """``requests.approval: manual``: the gateway posts a draft with its forecast and escrows
    nothing; a second pass drafts nothing more. The DSO approves, its own wallet escrows and
    posts the drafted request, and the next pass follows the session as its own."""
    from market.participant.connect import connect

    now = runtime.core.clock.now
    op = MarketClient(server, chain.keys["operator"], now=now)
    setup_market(op)
    gate = int(now()) + 600
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate + 3600,
        delivery_end=gate + 3600 + 4 * 900,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(session)
    make_worker(runtime).run_once()
    token, dso = chain.contracts.token, chain.addresses["dso"]
    dso_before = token.balance_of(dso)
    cfg = _config(server, chain.node.rpc_url, requests={"approval": "manual"})

    proc = _dso_run(tmp_path, cfg, chain.keys["dso"], "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(proc.stdout)
    (drafted,) = [e for e in events if e["event"] == "drafted"]
    assert not [e for e in events if e["event"] == "requested"]
    assert token.balance_of(dso) == dso_before  # nothing escrowed
    assert op.requests(session.session_id) == []

    owner = connect(server, chain.keys["dso"], rpc_url=chain.node.rpc_url)
    (draft,) = owner.request_drafts(session.session_id)
    assert draft["status"] == "pending" and draft["draft_id"] == drafted["request_id"]
    assert draft["reason"].startswith(f"{CP} UP: ")
    assert len(draft["forecast"]) == drafted["isps"] > 0
    assert all(f["max_loading_ppm"] > 800_000 for f in draft["forecast"])

    again = _dso_run(tmp_path, cfg, chain.keys["dso"], "--once")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [e for e in _events(again.stdout) if e["event"] in ("drafted", "requested")]
    assert len(owner.request_drafts(session.session_id)) == 1

    owner.client.decide_request_draft(draft["draft_id"], "approve")
    owner.post_request(FlexRequest.model_validate(draft["request"]))  # escrow + signed POST
    budget = draft["request"]["budget_units"]
    assert dso_before - token.balance_of(dso) == budget
    assert owner.request_drafts(session.session_id)[0]["status"] == "requested"
    third = _dso_run(tmp_path, cfg, chain.keys["dso"], "--once")
    assert third.returncode == 0, third.stderr[-3000:]
    assert not [e for e in _events(third.stdout) if e["event"] in ("drafted", "requested")]
    assert dso_before - token.balance_of(dso) == budget
