"""The clearing house in a live run (issue 19): the FSP gateways' ``netting`` configs, and the
``clearing_house`` section of ``report.json`` in the replay's shape.

Why the orchestrator signs the contracts: in live, as in the replay, every party's key derives
from the scenario's seed; the contracts are the replay's (``market.replay.netting.user_contract``),
signed by all their parties before the day, and each FSP gateway posts its own through the
signed API. The report reads the market's own store (its netted periods and delivery
reports) and the chain (withdrawals, credits, receivables), so a party's figures compare with
the replay's key by key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from clearing.settlement.revenue import sign_contract
from market.bundles import BundleStore
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.clearing_house.period import PeriodSettlement, SignedContract
from market.clearing_house.service import final_report
from market.errors import NotFound
from market.replay.chain import ReplayChain
from market.replay.clearing_house import parties_of
from market.replay.derive import derived_key
from market.replay.netting import user_contract, user_id
from market.replay.scenario import Scenario
from market.replay.world import Stay
from market.store import models as m

__all__ = ["clearing_house_section", "fsp_netting"]


def fsp_netting(
    sc: Scenario, chain: ReplayChain, stays: Sequence[Stay], fsp: str
) -> dict[str, Any] | None:
    """The ``netting`` section of one FSP gateway's config: one contract per EV user (its EV
    with the lowest id names the station's CPO, as in the replay), signed by every party, and
    each of the FSP's EVs' user address; None when the scenario has no contract for ``fsp``."""
    if not any(c.fsp == fsp for c in sc.contracts):
        return None
    keys = {a.lower(): derived_key(sc.seed, pid) for pid, a in chain.addresses.items()}
    stay_of = {s.ev.id: s for s in stays}  # the replay's lookup: the last stay of each EV
    ev_users: dict[str, str] = {}
    first: dict[str, str] = {}
    for ev_id, stay in sorted(stay_of.items()):
        if stay.ev.fsp != fsp:
            continue
        user = stay.ev.user or stay.ev.id
        key = derived_key(sc.seed, user_id(user))
        address = str(Account.from_key(key).address).lower()
        keys[address] = key
        ev_users[ev_id] = address
        first.setdefault(user, ev_id)
    chain_id, verifying = chain.client.chain_id, chain.contracts.market.address
    contracts = []
    for _user, ev_id in sorted(first.items()):
        contract = user_contract(
            sc, chain.addresses, chain.operator, fsp, ev_users[ev_id], stay_of[ev_id]
        )
        signatures = tuple(
            sign_contract(contract, keys[p], chain_id=chain_id, verifying_contract=verifying)
            for p in contract.signers()
        )
        signed = SignedContract(contract=contract, signatures=signatures)
        contracts.append(signed.model_dump(mode="json"))
    return {"contracts": contracts, "ev_users": ev_users}


def clearing_house_section(
    sc: Scenario, chain: ReplayChain, engine: Engine, bundle_dir: Path, session_ids: list[str]
) -> dict[str, Any]:
    """``{settled_on_chain, parties}`` as the replay's: per party the delivery payouts
    (FSPs) and refunds (DSOs) plus its netting statements' on-chain position; what it withdrew
    (``Withdrawn`` events) plus what it may still withdraw; and its receivables."""
    bundles = BundleStore(engine, bundle_dir)
    with Session(engine) as db:
        q = select(m.FlexRequestRow).where(m.FlexRequestRow.session_id.in_(session_ids))  # type: ignore[attr-defined]
        dso_of = {r.id: r.dso.lower() for r in db.exec(q)}
    statement: dict[str, int] = defaultdict(int)
    users: set[str] = set()
    netted = 0
    for sid in session_ids:
        try:
            report = final_report(engine, bundles, sid)
        except NotFound:
            report = None  # nothing verified: no payout, no refund
        if report is not None:
            for line in report.payouts:
                statement[line.fsp.lower()] += line.payout_units
            for refund in report.refunds:
                statement[dso_of.get(refund.request_id, "")] += refund.refund_units
        saved = store.load_period(engine, sid)
        if saved is not None:
            netted += 1
            settlement = PeriodSettlement.model_validate(saved["settlement"])
            for address, st in settlement.statements.items():
                statement[address] += st.onchain_position_units
        users |= {c.ev_user.lower() for c in contribution_store.load_contributions(engine, sid)}
    market = chain.contracts.market
    withdrawable: dict[str, int] = defaultdict(int)
    for event in chain.client.get_events("Withdrawn", 0, address=market.address):
        withdrawable[str(event.args["account"]).lower()] += int(event.args["amount"])
    roles: dict[str, str] = {chain.addresses[p.id].lower(): p.role for p in sc.participants}
    roles.setdefault(chain.operator.lower(), "PLATFORM")
    for address in sorted(users):
        roles.setdefault(address, "EV_USER")
    return {
        "settled_on_chain": bool(session_ids) and netted == len(session_ids),
        "parties": parties_of(market, roles, statement, withdrawable),
    }
