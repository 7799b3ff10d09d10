"""Gas of the clearing house's netting (issue 19): per session and per party.

Why separate from the lifecycle fit: netting is its own transaction after ``finalize`` and
its cost grows with the netting's members, not with orders. Each measured session is a whole
lifecycle (not measured here) whose FSPs keep their payout as credit; then every FSP pays one
payee (an EV user it named) a tenth of its payout in one ``settleNetting``, at 5 and at 50
FSPs: the total is the netting's cost per session, divided by its members the cost per party
(not a linear fit: the party check reads one naming slot per debited FSP and payee, so it
grows with their product). A third session nets FSPs that already withdrew, so every debit
becomes an on-chain receivable, and the next session's credit repays it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.chain.anvil import AnvilNode
from adapters.chain.deploy import MarketContracts
from adapters.chain.lifecycle import Roles, make_plan, run_lifecycle
from clearing.encoding import keccak256

NETTING_FSPS = (5, 50)
ZERO_ADDRESS = "0x" + "00" * 20


def _payee(fsp: str) -> str:
    """A fresh address per FSP, standing for the EV user it pays."""
    return "0x" + keccak256(b"bench-netting-payee:" + bytes.fromhex(fsp[2:]))[-20:].hex()


def _session(
    mc: MarketContracts, node: AnvilNode, roles: Roles, budget: int, label: str, *, keep: bool
) -> tuple[bytes, list[int]]:
    """One whole lifecycle (one order per FSP); returns its id and each FSP's payout."""
    plan = make_plan(
        orders=len(roles.fsps), fsps=len(roles.fsps), requests=1, budget_per_request=budget,
        label=label,
    )  # fmt: skip
    report = run_lifecycle(mc, node, roles, plan, fsps_withdraw=not keep)
    return report.session_id, list(plan.payouts)


def _net(
    mc: MarketContracts, house: str, session_id: bytes, fsps: list[str], debits: list[int]
) -> dict[str, int]:
    """Every FSP pays its payee ``debits[i]``; returns the netting's gas and member count."""
    market = mc.market
    for fsp in fsps:
        if not market.is_netting_payee(fsp, _payee(fsp)):
            market.name_netting_payees([_payee(fsp)], sender=fsp)
    positions: dict[str, int] = {}
    for fsp, amount in zip(fsps, debits, strict=True):
        positions[fsp.lower()] = -amount
        positions[_payee(fsp).lower()] = amount
    members = sorted(positions)
    tx = market.settle_netting(
        session_id, members, [positions[m] for m in members], 0, ZERO_ADDRESS, sender=house
    )
    recorded = len(tx.events_named("ReceivableRecorded"))
    return {"members": len(members), "gas": tx.gas_used, "receivables_recorded": recorded}


def run_netting_bench(
    mc: MarketContracts, node: AnvilNode, everyone: Roles, budget: int
) -> dict[str, Any]:
    """The ``netting`` object of ``bench gas``: per-session and per-party netting gas."""
    market = mc.market
    house = everyone.admin
    role = market.role("CLEARING_HOUSE")
    if not market.has_role(role, house):
        market.grant_role(role, house, sender=everyone.admin)
    covered: list[dict[str, int]] = []
    for n in NETTING_FSPS:
        roles = replace(everyone, fsps=everyone.fsps[:n])
        sid, payouts = _session(mc, node, roles, budget, f"netting-{n}", keep=True)
        covered.append({"fsps": n, **_net(mc, house, sid, roles.fsps, [p // 10 for p in payouts])})
    small, large = covered
    # FSPs that withdrew everything: each debit is carried forward as a receivable
    roles = replace(everyone, fsps=everyone.fsps[: NETTING_FSPS[0]])
    sid, payouts = _session(mc, node, roles, budget, "netting-short", keep=False)
    short = _net(mc, house, sid, roles.fsps, [p // 10 for p in payouts])
    # the next session's credit repays it (repayReceivables, as withdraw would)
    _session(mc, node, roles, budget, "netting-repay", keep=True)
    repay = [market.repay_receivables(f, sender=f).gas_used for f in roles.fsps]
    return {
        "model": "one settleNetting per session; each FSP pays one payee it named",
        # the typical session (5 FSPs, 10 members): what netting adds to it, and per party
        "gas_per_session": small["gas"],
        "gas_per_party": round(small["gas"] / small["members"]),
        # 50 FSPs: the party check is O(debited FSPs x named payees) SLOADs, so it grows faster
        "gas_per_session_50_fsps": large["gas"],
        "gas_per_party_50_fsps": round(large["gas"] / large["members"]),
        "runs": covered,
        "with_receivables": {"fsps": NETTING_FSPS[0], **short},
        "gas_per_receivable_recorded": round((short["gas"] - small["gas"]) / NETTING_FSPS[0]),
        "gas_repay_receivables_per_debtor": round(sum(repay) / len(repay)),
    }
