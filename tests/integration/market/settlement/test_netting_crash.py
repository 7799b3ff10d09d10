"""Issue 19: a netting interrupted between ``repayReceivables`` and ``settleNetting`` (or
between ``settleNetting`` and its stored statements) gives, when run again, the statement an
uninterrupted run gives: the receivables brought forward, the repayment with its own
transaction, and what the netting recorded (real anvil, real store, API in-process).

The same period is settled three times from one chain snapshot: uninterrupted, interrupted
after the repayment, interrupted after the netting; the chain is reverted and the market's
record of the earlier run removed in between.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from market_helpers import worker_env, worker_once
from service_settlement_helpers import (
    deliver_and_finalize,
    register_roles,
    settle,
    share_with_a_user,
    user_contract,
)

from clearing.settlement.netting import netting_period_id
from market.clearing_house import store
from market.lifecycle.worker import CRASH_ENV, step_history
from market.store.models.clearing_house import netting_intents, period_participants, periods

pytestmark = pytest.mark.integration


class Interrupted(BaseException):
    """The process dies here: nothing after the crash point runs."""


def _settle(runtime, session_id: str, house: str, crash_at: str | None = None) -> dict:
    def crash_point(name: str) -> None:
        if name == crash_at:
            raise Interrupted(name)

    return settle(runtime, session_id, house, crash_point=crash_point)


def _forget(runtime, session_id: str) -> None:
    """The market's record of a run the reverted chain no longer has."""
    with runtime.engine.begin() as conn:
        conn.execute(sa.delete(periods).where(periods.c.period == session_id))
        conn.execute(
            sa.delete(period_participants).where(period_participants.c.period == session_id)
        )
        conn.execute(sa.delete(netting_intents).where(netting_intents.c.period == session_id))


def _owed_then_repaid(chain, runtime, clients, seed: int) -> tuple[str, str, int]:
    """Period 1: B delivers nothing, its penalty is a receivable owed to the DSO (netted).
    Period 2: B delivers and shares with an EV user, FINAL, not netted yet: its netting first
    repays the DSO from B's new credit. Returns (clearing house, period 2, the penalty)."""
    _arbiter, house = register_roles(chain)
    market = chain.contracts.market
    fsp_b, dso = chain.addresses["fsp_b"], chain.addresses["dso"]
    first = deliver_and_finalize(chain, runtime, clients, b_delivers=False, again=False)
    market.name_netting_payees([dso], sender=fsp_b)
    assert _settle(runtime, first, house)["action"] == "settled"
    penalty = market.receivable(fsp_b, dso)
    assert penalty > 0
    signed = user_contract(chain, runtime, seed)
    second = deliver_and_finalize(
        chain, runtime, clients, b_delivers=True, again=True, contracts={"fsp_b": [signed]}
    )
    share_with_a_user(chain, clients, second, signed)
    return house, second, penalty


def test_an_interrupted_netting_gives_the_statement_of_an_uninterrupted_one(
    chain, runtime, clients
) -> None:
    house, second, penalty = _owed_then_repaid(chain, runtime, clients, 0xC0)
    market = chain.contracts.market
    fsp_b, dso = chain.addresses["fsp_b"].lower(), chain.addresses["dso"].lower()
    period_id = bytes.fromhex(netting_period_id(second).removeprefix("0x"))
    snap = chain.node.snapshot()

    whole = _settle(runtime, second, house)
    assert whole["action"] == "settled"
    expected = store.load_period(runtime.engine, second)
    assert expected is not None
    lines = expected["settlement"]["statements"][fsp_b]["receivables"]
    assert [ln["kind"] for ln in lines][:2] == ["brought_forward", "repaid"]
    assert lines[1]["tx_hash"] != whole["tx_hash"]  # the repayment's own transaction

    for crash_at, rerun_action in (
        ("netting:after_repay", "settled"),
        ("netting:after_settle", "already_settled"),
    ):
        chain.node.revert(snap)
        chain.client.reset_nonces()
        snap = chain.node.snapshot()
        _forget(runtime, second)
        assert market.receivable(fsp_b, dso) == penalty  # the chain is back before the run
        with pytest.raises(Interrupted):
            _settle(runtime, second, house, crash_at=crash_at)
        assert market.receivable(fsp_b, dso) < penalty  # the repayment went through
        assert market.netting_settled(period_id) is (crash_at == "netting:after_settle")
        assert store.load_period(runtime.engine, second) is None
        again = _settle(runtime, second, house)
        assert again["action"] == rerun_action
        saved = store.load_period(runtime.engine, second)
        assert saved is not None and saved["tx_hash"] == again["tx_hash"]
        # the same lines; the hashes are this run's (a re-sent transaction's fees may differ)
        assert _tx_blind(saved) == _tx_blind(expected), crash_at


def test_a_worker_killed_between_repayment_and_netting_stores_the_uninterrupted_statement(
    chain, runtime, clients, settings, tmp_path
) -> None:
    """The same with a real process: ``flexmarket worker --once`` exits hard
    (``FLEXMARKET_WORKER_CRASH_AT=netting:after_repay``) after the repayment; the next worker
    nets the session and stores the statement the in-process, uninterrupted run stored."""
    house, second, penalty = _owed_then_repaid(chain, runtime, clients, 0xD0)
    market = chain.contracts.market
    fsp_b, dso = chain.addresses["fsp_b"].lower(), chain.addresses["dso"].lower()
    snap = chain.node.snapshot()
    assert _settle(runtime, second, house)["action"] == "settled"
    expected = store.load_period(runtime.engine, second)
    assert expected is not None
    chain.node.revert(snap)
    chain.client.reset_nonces()
    _forget(runtime, second)

    env = worker_env(
        chain, settings, tmp_path, FLEXMARKET_CLEARING_HOUSE_KEY=chain.node.private_keys[9]
    )
    crashed = worker_once({**env, CRASH_ENV: "netting:after_repay"})
    _, err = crashed.communicate(timeout=120)
    assert crashed.returncode == 137, err
    assert market.receivable(fsp_b, dso) < penalty  # repaid before the crash
    assert not market.netting_settled(bytes.fromhex(netting_period_id(second)[2:]))
    restarted = worker_once(env)
    _, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    history = {h["step"]: h for h in step_history(runtime.engine, second)}
    assert history["clearing"]["status"] == "DONE", history["clearing"]
    saved = store.load_period(runtime.engine, second)
    assert saved is not None
    # another process sends other transactions (its own fees): the same lines, each pointing
    # at a transaction of the chain that did what the line says
    repaid = {e.tx_hash for e in chain.client.get_events("ReceivableRepaid", 0)}
    lines = saved["settlement"]["statements"][fsp_b]["receivables"]
    assert lines[1]["kind"] == "repaid" and lines[1]["tx_hash"] in repaid
    assert saved["tx_hash"] in {e.tx_hash for e in chain.client.get_events("NettingSettled", 0)}
    assert _tx_blind(saved) == _tx_blind(expected)


def _tx_blind(period: dict) -> str:
    """The stored period with each transaction hash replaced by the order it first appears in."""
    text = json.dumps(period, sort_keys=True)
    for i, h in enumerate(dict.fromkeys(re.findall(r"0x[0-9a-f]{64}", text))):
        text = text.replace(h, f"tx{i}")
    return text
