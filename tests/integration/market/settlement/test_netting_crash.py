"""Issue 19: a netting interrupted between ``repayReceivables`` and ``settleNetting`` (or
between ``settleNetting`` and its stored statements) gives, when run again, the statement an
uninterrupted run gives: the receivables brought forward, the repayment with its own
transaction, and what the netting recorded (real anvil, real store, API in-process).

The same period is settled three times from one chain snapshot: uninterrupted, interrupted
after the repayment, interrupted after the netting; the chain is reverted and the market's
record of the earlier run removed in between.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from service_settlement_helpers import (
    deliver_and_finalize,
    register_roles,
    settle,
    share_with_a_user,
)

from clearing.settlement.netting import netting_period_id
from market.clearing_house import store
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


def test_an_interrupted_netting_gives_the_statement_of_an_uninterrupted_one(
    chain, runtime, clients
) -> None:
    _arbiter, house = register_roles(chain)
    market = chain.contracts.market
    fsp_b, dso = chain.addresses["fsp_b"].lower(), chain.addresses["dso"].lower()
    # Period 1: B delivers nothing; its penalty is a receivable owed to the DSO.
    first = deliver_and_finalize(chain, runtime, clients, b_delivers=False, again=False)
    market.name_netting_payees([chain.addresses["dso"]], sender=chain.addresses["fsp_b"])
    assert _settle(runtime, first, house)["action"] == "settled"
    penalty = market.receivable(fsp_b, dso)
    assert penalty > 0
    # Period 2: B delivers; its credit first repays the DSO, then the netting runs.
    second = deliver_and_finalize(chain, runtime, clients, b_delivers=True, again=True)
    share_with_a_user(chain, runtime, clients, second, 0xC0)
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
        assert again["tx_hash"] == whole["tx_hash"]  # the same transactions from the snapshot
        assert store.load_period(runtime.engine, second) == expected, crash_at
