"""Crash and race: the worker process is killed mid-step, and two workers race one session."""

from __future__ import annotations

import json

import pytest
from market_helpers import (
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
    worker_env,
    worker_once,
)
from sqlalchemy import text

from adapters.chain.types import SessionState
from clearing.encoding import uuid_to_bytes32
from market.lifecycle.worker import CRASH_ENV, step_history

pytestmark = pytest.mark.integration


def _session_at_gate(chain, runtime, clients) -> str:
    op, dso, fsp_a = clients("operator"), clients("dso"), clients("fsp_a")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers = [make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)]
    fsp_a.post_offer(offers[0])
    commit(chain, "fsp_a", s.session_id, offers)
    chain.warp_to(s.gate_closure + 1)
    return s.session_id


def _count(chain, event: str, session_id: str) -> int:
    topic = "0x" + uuid_to_bytes32(session_id).hex()
    deploy_block = chain.contracts.deployment.deploy_block
    return len(chain.client.get_events(event, deploy_block, topics=[topic]))


@pytest.mark.parametrize("crash_at", ["close:after_tx", "clear:before_post", "clear:after_post"])
def test_worker_killed_mid_step_completes_once_on_restart(
    chain, runtime, clients, settings, tmp_path, crash_at
) -> None:
    session_id = _session_at_gate(chain, runtime, clients)
    env = worker_env(chain, settings, tmp_path)
    crashed = worker_once({**env, CRASH_ENV: crash_at})  # default id: host:pid
    _, err = crashed.communicate(timeout=120)
    assert crashed.returncode == 137, err
    info = runtime.ledger.session(session_id)
    with runtime.engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM market_session")).scalar()
        orders = conn.execute(text("SELECT count(*) FROM flex_order")).scalar()
    if crash_at == "clear:after_post":
        # Posted on-chain, but not recorded locally: the window the restart must reconcile.
        assert info.state == SessionState.CLEARED
        assert (state, orders) == ("CLOSED", 0)
    else:
        assert info.state == SessionState.CLOSED

    restarted = worker_once(env)  # a new pid: the dead worker's lock must not block it
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["steps"] >= 1
    assert _count(chain, "SessionClosed", session_id) == 1
    assert _count(chain, "ClearingPosted", session_id) == 1
    with runtime.engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM market_session")).scalar()
        orders = conn.execute(text("SELECT count(*) FROM flex_order")).scalar()
    assert state == "DELIVERING" and orders >= 1
    if crash_at == "clear:after_post":
        steps = step_history(runtime.engine, session_id)
        clear_step = next(h for h in steps if h["step"] == "clear")
        assert clear_step["status"] == "DONE" and "reconciled" in clear_step["detail"]


def test_two_workers_race_each_onchain_step_happens_once(
    chain, runtime, clients, settings, tmp_path
) -> None:
    session_id = _session_at_gate(chain, runtime, clients)
    env = worker_env(chain, settings, tmp_path)
    procs = [worker_once(env, f"w-race-{i}") for i in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert _count(chain, "SessionClosed", session_id) == 1
    assert _count(chain, "ClearingPosted", session_id) == 1
    history = {h["step"]: h for h in step_history(runtime.engine, session_id)}
    assert all(history[s]["status"] == "DONE" for s in ("open", "close", "clear")), history
    # Whatever one worker skipped, the other did; a third pass finds nothing left to send.
    make_worker(runtime).run_once()
    assert _count(chain, "ClearingPosted", session_id) == 1


def test_session_the_chain_refuses_is_rejected_not_retried(chain, runtime, clients) -> None:
    op = clients("operator")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()), gate_in_s=5)
    chain.warp_to(s.gate_closure + 10)  # the worker comes too late: createSession must fail
    worker = make_worker(runtime)
    worker.run_once()
    assert op.session(s.session_id)["state"] == "REJECTED"
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert "refused" in history["open"]["detail"]
    assert worker.run_once() == 0  # nothing left to do: no retry loop
