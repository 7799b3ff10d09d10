"""Issue 19: an FSP whose penalty exceeds its payout. The clearing house's netting does not
revert; the contract records the uncovered part as a receivable owed to the DSO, the next
period's statement brings it forward, and the FSP's next credit repays it (real anvil, real
store, API in-process)."""

from __future__ import annotations

import pytest
from service_settlement_helpers import (
    ORDER_W,
    PRICE_B,
    deliver_and_finalize,
    energy,
    paid,
    register_roles,
    settle,
    share_with_a_user,
    user_contract,
)

from adapters.chain.errors import ContractRevert
from market.clearing_house import store
from market.clearing_house.service import final_report

pytestmark = pytest.mark.integration


def _settle(runtime, session_id: str, house: str, platform: str) -> dict:
    return settle(runtime, session_id, house, fee_recipient=platform)


def test_penalty_beyond_payout_is_carried_forward_and_repaid(chain, runtime, clients) -> None:
    _arbiter, house = register_roles(chain)
    market = chain.contracts.market
    fsp_b, dso = chain.addresses["fsp_b"].lower(), chain.addresses["dso"].lower()
    platform = house.lower()
    # Period 1: FSP B delivers nothing, so its payout is 0 and its whole order value is a
    # penalty the payout cannot absorb: an FSP -> DSO obligation larger than its credit.
    first = deliver_and_finalize(chain, runtime, clients, b_delivers=False, again=False)
    report = final_report(runtime.engine, runtime.bundles, first)
    penalty = sum(o.uncovered_penalty_units for o in report.orders if o.fsp == fsp_b)
    assert penalty > 0
    assert market.credits(fsp_b) == 0
    market.name_netting_payees([chain.addresses["dso"]], sender=chain.addresses["fsp_b"])
    out = _settle(runtime, first, house, platform)
    assert out["action"] == "settled"  # no revert
    assert market.receivable(fsp_b, dso) == penalty
    assert [a.lower() for a in market.receivable_creditors(fsp_b)] == [dso]
    saved = store.load_period(runtime.engine, first)
    assert saved is not None
    b_first = saved["settlement"]["statements"][fsp_b]
    assert b_first["receivables"] == [
        {
            "kind": "recorded",
            "counterparty": dso,
            "amount_units": -penalty,
            "tx_hash": out["tx_hash"],
        }
    ]
    assert b_first["outstanding_receivable_units"] == -penalty
    assert saved["settlement"]["statements"][dso]["outstanding_receivable_units"] == penalty
    # Settling the period again (a retried worker, a second `clearing settle`) keeps the saved
    # statements: rebuilt without the netting's receipt, they would forget the receivable.
    again = _settle(runtime, first, house, platform)
    assert (again["action"], again["tx_hash"]) == ("already_settled", out["tx_hash"])
    assert store.load_period(runtime.engine, first) == saved
    # FSP B cannot withdraw what it owes; nothing was credited to it anyway.
    with pytest.raises(ContractRevert, match="FlexMarketNothingToWithdraw"):
        market.withdraw(sender=chain.addresses["fsp_b"])

    # Period 2: FSP B delivers and shares 10 % with an EV user. Its payout is its next credit:
    # the clearing house first repays the DSO from it (repayReceivables: stale debts first),
    # then the netting debits the incentive from what is left; what that lacks is owed.
    signed = user_contract(chain, runtime)
    second = deliver_and_finalize(
        chain, runtime, clients, b_delivers=True, again=True, contracts={"fsp_b": [signed]}
    )
    payout = paid(4 * energy(ORDER_W, 900), PRICE_B)
    user = share_with_a_user(chain, clients, second, signed)
    dso_before = market.credits(dso)
    out = _settle(runtime, second, house, platform)
    assert out["action"] == "settled"
    incentive = payout * 100_000 // 1_000_000
    repaid = min(payout, penalty)
    user_paid = min(incentive, payout - repaid)
    assert market.credits(dso) == dso_before + repaid
    assert market.credits(user) == user_paid
    assert market.credits(fsp_b) == payout - repaid - user_paid
    assert market.receivable(fsp_b, dso) == penalty - repaid
    assert market.receivable(fsp_b, user.lower()) == incentive - user_paid
    saved = store.load_period(runtime.engine, second)
    assert saved is not None
    b_second = saved["settlement"]["statements"][fsp_b]
    lines = b_second["receivables"]
    assert lines[0] == {
        "kind": "brought_forward",
        "counterparty": dso,
        "amount_units": -penalty,
        "tx_hash": None,
    }
    repay_tx = lines[1]["tx_hash"]
    assert lines[1] == {
        "kind": "repaid",
        "counterparty": dso,
        "amount_units": -repaid,
        "tx_hash": repay_tx,
    }
    assert repay_tx.startswith("0x") and repay_tx != out["tx_hash"]  # its own transaction
    recorded = [ln for ln in lines[2:] if ln["kind"] == "recorded"]
    owed_user = incentive - user_paid
    assert recorded == (
        [
            {
                "kind": "recorded",
                "counterparty": user.lower(),
                "amount_units": -owed_user,
                "tx_hash": out["tx_hash"],
            }
        ]
        if owed_user
        else []
    )
    assert b_second["outstanding_receivable_units"] == -(penalty - repaid) - owed_user
