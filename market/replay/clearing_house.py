"""The ``clearing_house`` section of ``report.json``: per party, what its statements credit it
and what the chain let it withdraw, and whether the netting really settled on-chain.

Why: EV users and CPOs are paid through the clearing house's netting; without ``--netting``
that money is only computed (statements) and never moves, and the report must say so rather
than let a statement pass for a payment. ``statement_units`` sums, per session, the delivery
report's payouts (FSPs) and refunds (DSOs) and the statement's on-chain position
(``Statement.onchain_position_units``: revenue sharing, fees, uncovered penalties).
``withdrawable_units`` is the contract's ``credits`` view read just before each withdrawal of
the run, plus what it still shows at the end. ``receivable_units`` is what the chain still
records as owed to the party (+) or by it (-) (issue 19: a netting debit takes at most the
payer's credit and carries the rest forward), so ``statement_units == withdrawable_units +
receivable_units`` for every party.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from adapters.chain.market_contract import FlexMarketContract
from market.clearing_house.receivables import outstanding
from market.replay.context import ReplayContext
from market.store import models as m

__all__ = ["ROLES", "clearing_house_section", "parties_of"]

#: Party roles of the section, in the order the parties are listed.
ROLES = ("DSO", "EMSP", "FLEET_OPERATOR", "BUILDING_MANAGER", "CPO", "EV_USER", "PLATFORM")


def _dso_of_requests(ctx: ReplayContext, session_ids: list[str]) -> dict[str, str]:
    with Session(ctx.runtime.engine) as db:
        q = select(m.FlexRequestRow).where(m.FlexRequestRow.session_id.in_(session_ids))  # type: ignore[attr-defined]
        return {r.id: r.dso.lower() for r in db.exec(q)}


def _roles(ctx: ReplayContext) -> dict[str, str]:
    """Lower-case address -> role: the scenario's participants, the EV users the netting
    names, and the platform (the operator, the fee recipient)."""
    roles: dict[str, str] = {
        ctx.chain.addresses[p.id].lower(): p.role for p in ctx.scenario.participants
    }
    roles.setdefault(ctx.chain.operator.lower(), "PLATFORM")
    keys = {a.lower() for a in ctx.chain.addresses.values()}  # operator, oracle, participants
    for run in ctx.runs:
        if run.netting is None:
            continue
        for address in run.netting.names:
            if address not in keys:
                roles.setdefault(address, "EV_USER")
    return roles


def clearing_house_section(ctx: ReplayContext) -> dict[str, Any]:
    """``{settled_on_chain, parties: [{role, address, statement_units, withdrawable_units,
    receivable_units}]}``."""
    netted = [run.netting for run in ctx.runs if run.netting is not None]
    settled = bool(netted) and all(n.onchain for n in netted)
    dso_of = _dso_of_requests(ctx, [run.session_id for run in ctx.runs])
    statement: dict[str, int] = defaultdict(int)
    withdrawable: dict[str, int] = defaultdict(int)
    for run in ctx.runs:
        if run.delivery is not None:
            for line in run.delivery.payouts:
                statement[line.fsp.lower()] += line.payout_units
            for refund in run.delivery.refunds:
                statement[dso_of.get(refund.request_id, "")] += refund.refund_units
        if run.netting is not None:
            for address, st in run.netting.settlement.statements.items():
                statement[address] += st.onchain_position_units
        for address, credit in run.credited.items():
            withdrawable[address] += credit
    parties = parties_of(ctx.chain.contracts.market, _roles(ctx), statement, withdrawable)
    return {"settled_on_chain": settled, "parties": parties}


def parties_of(
    market: FlexMarketContract,
    roles: Mapping[str, str],
    statement: Mapping[str, int],
    withdrawable: Mapping[str, int],
) -> list[dict[str, Any]]:
    """The section's parties (roles in ``ROLES`` only), with what the chain still records as
    owed to (+) or by (-) each, in role then address order. ``live`` builds its own too."""
    parties = []
    for address, role in roles.items():
        if role not in ROLES:
            continue
        still = market.credits(address)
        owed = sum(
            r.amount_units if r.creditor == address else -r.amount_units
            for r in outstanding(market, [address])
        )
        parties.append(
            {
                "role": role,
                "address": address,
                "statement_units": statement.get(address, 0),
                "withdrawable_units": withdrawable.get(address, 0) + still,
                "receivable_units": owed,
            }
        )
    parties.sort(key=lambda p: (ROLES.index(p["role"]), p["address"]))
    return parties
