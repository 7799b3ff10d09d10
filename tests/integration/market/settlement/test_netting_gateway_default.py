"""Issue 19: netting by default works with an FSP gateway that has no ``netting`` section.

The market says in ``GET /deployment`` that it nets; the gateway then names the session's DSO
as a payee and waits for the netting before it withdraws (never longer than
``netting_wait_s``). A netting the market cannot settle (the DSO not named) is BLOCKED with
its reason, shown by the statement route, and retried with a back-off, not every tick (real
anvil, store and API in-process).
"""

from __future__ import annotations

import time

import pytest
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    RULES,
    deliver,
    readings,
    session_to_delivery,
)

from adapters.chain.types import SessionState
from market.client import ApiError
from market.fsp.config import NettingConfig
from market.fsp.netting import NettingGate, share_revenue
from market.lifecycle.worker import step_history
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant
from market.runtime import attach_settlement
from market.settings import Settings

pytestmark = pytest.mark.integration


def _clearing(runtime, session_id: str) -> dict:
    return {h["step"]: h for h in step_history(runtime.engine, session_id)}["clearing"]


def _fsp_b(chain, clients) -> Participant:
    market, token = chain.contracts.market, chain.contracts.token
    return Participant(clients("fsp_b"), ChainAccount(market, token, chain.addresses["fsp_b"]))


def test_a_gateway_without_a_netting_section_names_the_dso_and_waits_for_the_netting(
    chain, runtime, clients
) -> None:
    market, op = chain.contracts.market, chain.addresses["operator"]
    market.grant_role(market.role("CLEARING_HOUSE"), op, sender=op)  # as the embedded chain
    b = _fsp_b(chain, clients)
    assert b.client.deployment()["netting"] is True  # default settings: the market nets
    s, _req, worker = session_to_delivery(chain, runtime, clients)
    sid, start = s.session_id, s.delivery_start
    deliver(runtime, clients, sid, readings("ST-A", start, [BASELINE_W - ORDER_W] * 4))
    deliver(runtime, clients, sid, readings("ST-B", start, [BASELINE_W] * 4))  # B: a penalty
    settings = Settings(
        database_url="sqlite://",
        oracle_key=chain.keys["oracle"],
        settlement_rules=RULES.to_json_obj(),
    )
    attach_settlement(worker, settings, ledger=runtime.ledger)
    calls: list[str] = []
    hook = worker.clearing_hook
    assert hook is not None
    worker.clearing_hook = lambda row: calls.append(row.id) or hook(row)
    worker.clearing_backoff_s = (1.0, 2.0)
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    info = runtime.ledger.session(sid)  # the attestation as mined (a slow one mines later)
    chain.warp_to(max(s.delivery_end + 61 + 301, info.verified_at + info.challenge_window + 1))
    worker.run_once()
    assert runtime.ledger.session(sid).state == SessionState.FINAL
    # Nobody named the DSO: the netting (B's uncovered penalty is owed to it) cannot settle.
    dso = chain.addresses["dso"]
    clearing = _clearing(runtime, sid)
    assert clearing["status"] == "BLOCKED" and dso.lower() in clearing["detail"].lower()
    assert calls == [sid]
    worker.run_once()
    worker.run_once()
    assert calls == [sid]  # backed off: not retried on every tick
    b.login()
    with pytest.raises(ApiError) as err:
        b.client.statement(sid)
    assert err.value.status == 404 and "netting blocked:" in str(err.value)
    assert dso.lower() in str(err.value).lower()

    # The gateway without a netting section: the market nets, so it shares (no contracts, no
    # users: it only names the DSO) and holds its withdrawal until the netting.
    lines: list[dict] = []
    now = runtime.core.clock.now()
    gate = NettingGate(None, 3_600, lambda _sid: int(now), lines.append)
    assert gate.config(b) == NettingConfig()
    assert gate.may_withdraw(b, sid, now) is False
    assert gate.may_withdraw(b, sid, now + 10) is False
    assert [x["event"] for x in lines] == ["waiting_for_netting"]  # said once
    share_revenue(b, NettingConfig(), sid, [], set(), lines.append)
    assert market.is_netting_payee(chain.addresses["fsp_b"], dso)
    time.sleep(1.1)  # the back-off's first delay
    worker.run_once()
    assert calls == [sid, sid] and _clearing(runtime, sid)["status"] == "DONE"
    assert market.receivable(chain.addresses["fsp_b"], dso) > 0  # carried forward, no revert
    assert gate.may_withdraw(b, sid, now + 20) is True  # netted: the credit may go
    assert b.client.statement(sid)["participant"].lower() == b.address


def test_the_gateway_withdraws_after_netting_wait_s_even_unnetted(chain, runtime, clients) -> None:
    market, op = chain.contracts.market, chain.addresses["operator"]
    market.grant_role(market.role("CLEARING_HOUSE"), op, sender=op)
    b = _fsp_b(chain, clients)
    lines: list[dict] = []
    sid = "22222222-2222-4222-8222-222222222222"  # never netted
    gate = NettingGate(None, 600, lambda _sid: 1_000, lines.append)
    assert gate.may_withdraw(b, sid, 1_599) is False
    assert gate.may_withdraw(b, sid, 1_600) is True
    event = lines[-1]
    assert event["event"] == "withdraw_without_netting" and event["waited_s"] == 600
    assert "netting_wait_s" in event["reason"]


def test_a_market_that_does_not_net_lets_the_gateway_withdraw_at_final(
    chain, runtime, clients
) -> None:
    runtime.settings.netting = False  # FLEXMARKET_NETTING=false
    b = _fsp_b(chain, clients)
    assert b.client.deployment()["netting"] is False
    lines: list[dict] = []
    gate = NettingGate(None, 600, lambda _sid: 1_000, lines.append)
    assert gate.config(b) is None  # nothing to share, nobody to name
    assert gate.may_withdraw(b, "33333333-3333-4333-8333-333333333333", 1_000) is True
    assert lines == []
