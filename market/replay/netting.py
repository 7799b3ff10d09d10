"""The FSPs' side of the clearing house in a replay: revenue sharing from the scenario.

Each FSP with a ``contracts`` entry signs one contract per EV user (every party signs with its
derived key) and reports each user's contribution from its dispatch.  The computation is the
service's either way:

* ``--netting``: both go through the signed API like any FSP's, and the worker's
  clearing-house step (``market.clearing_house.service.settle_session``) nets the session
  on-chain after ``finalize``; :func:`netting_outcome` reads the period it stored;
* otherwise :func:`implied_sharing` runs the same period computation off-chain
  (``session_period``) so the report still shows who owes whom under the contracts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from clearing.encoding import uuid_to_bytes32
from clearing.settlement.revenue import RevenueShareContract, UserContribution, sign_contract
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.clearing_house.period import PeriodSettlement, SignedContract, contract_payees
from market.clearing_house.service import session_period
from market.replay.context import NettingOutcome, ReplayContext, SessionRun
from market.replay.derive import derived_key, derived_uuid, pseudonym
from market.replay.scenario import Scenario
from market.replay.world import Stay

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class RevenueSharing:
    """Each FSP's signed contracts (the set it commits) and one session's contributions, per
    FSP participant id."""

    contracts: dict[str, list[SignedContract]]
    contributions: dict[str, list[UserContribution]]
    names: dict[str, str]  # lower-case address -> participant / user id
    user_keys: dict[str, str]  # lower-case address -> private key, EV users only

    def applied(self, fsp: str) -> list[SignedContract]:
        """``fsp``'s contracts with the users who contributed in the session."""
        users = {c.ev_user for c in self.contributions.get(fsp, [])}
        return [c for c in self.contracts.get(fsp, []) if c.contract.ev_user in users]


def user_id(user: str) -> str:
    """Key derivation id of an EV user (users are not scenario participants)."""
    return f"user:{user}"


def user_contract(
    sc: Scenario,
    addresses: Mapping[str, str],
    operator: str,
    fsp: str,
    ev_user: str,
    stay: Stay,
) -> RevenueShareContract:
    """The scenario's revenue-sharing contract of ``fsp`` with one EV user (its ``contracts``
    entry; the CPO of the station of ``stay``, the user's EV with the lowest id), unsigned.
    ``live`` builds the same ones for its FSP gateways."""
    terms = next(c for c in sc.contracts if c.fsp == fsp)
    cpo = next(st.cpo for st in sc.stations if st.id == stay.station)
    midnight = int(dt.datetime.combine(sc.period.day, dt.time(0), tzinfo=dt.UTC).timestamp())
    user = stay.ev.user or stay.ev.id
    incentive: dict[str, Any] = (
        {"user_incentive_mode": "percent", "user_incentive_ppm": terms.ev_user_incentive_ppm}
        if terms.ev_user_incentive_ppm
        else {
            "user_incentive_mode": "per_kwh",
            "user_incentive_per_kwh_shifted_units": stay.ev.incentive_per_kwh_units,
        }
    )
    return RevenueShareContract(
        contract_id=derived_uuid(sc.seed, "contract", fsp, user),
        fsp=addresses[fsp].lower(),
        ev_user=ev_user,
        fleet_operator=addresses[terms.fleet_operator].lower()
        if terms.fleet_operator
        else ZERO_ADDRESS,
        cpo=addresses[cpo].lower(),
        platform=operator.lower(),
        fleet_share_ppm=terms.fleet_share_ppm,
        cpo_fee_per_kwh_units=terms.cpo_fee_per_kwh_units,
        platform_fee_ppm=terms.platform_fee_ppm or sc.market.platform_fee_ppm,
        valid_from=midnight - 7 * 86400,
        valid_until=midnight + 30 * 86400,
        **incentive,
    )


def _fleet_users(ctx: ReplayContext, fsp: str) -> dict[str, Stay]:
    """Each EV user of ``fsp``'s fleet with the stay of the user's EV with the lowest id."""
    stay_of = {s.ev.id: s for s in ctx.stays}
    out: dict[str, Stay] = {}
    for ev_id in sorted(stay_of):
        stay = stay_of[ev_id]
        if stay.ev.fsp == fsp:
            out.setdefault(stay.ev.user or stay.ev.id, stay)
    return out


def revenue_sharing(ctx: ReplayContext, run: SessionRun | None) -> RevenueSharing:
    """Contracts (signed by every party) with every EV user of each FSP's fleet, and the
    contributions from the session's dispatch plans (none without ``run``). The contracts do
    not depend on the session: an FSP posts them all before its first commitment, which binds
    their set (``clearing.commitments.contract_set_root``)."""
    sc, chain = ctx.scenario, ctx.chain
    chain_id, verifying = chain.client.chain_id, chain.contracts.market.address
    names = {a.lower(): pid for pid, a in chain.addresses.items()}
    keys = {a.lower(): derived_key(sc.seed, pid) for pid, a in chain.addresses.items()}
    user_keys: dict[str, str] = {}

    def user_address(user: str) -> str:
        key = derived_key(sc.seed, user_id(user))
        address = str(Account.from_key(key).address).lower()
        keys[address] = user_keys[address] = key
        return address

    stay_of = {s.ev.id: s for s in ctx.stays}
    out = RevenueSharing(contracts={}, contributions={}, names=names, user_keys=user_keys)
    for fsp in sorted({c.fsp for c in sc.contracts}):
        users = _fleet_users(ctx, fsp)
        for user, stay in sorted(users.items()):
            contract = user_contract(
                sc, chain.addresses, chain.operator, fsp, user_address(user), stay
            )
            signatures = tuple(
                sign_contract(
                    contract, keys[party], chain_id=chain_id, verifying_contract=verifying
                )
                for party in contract.signers()
            )
            out.contracts.setdefault(fsp, []).append(
                SignedContract(contract=contract, signatures=signatures)
            )
        plan = run.plans.get(fsp) if run is not None else None
        if plan is None or run is None:
            continue
        per_user: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for inc in sorted(plan.incentives, key=lambda i: i.ev_id):
            stay = stay_of[inc.ev_id]
            user = stay.ev.user or stay.ev.id
            per_user[user][0] += inc.shifted_wh
            per_user[user][1] += inc.discharged_wh
        for user, (shifted, discharged) in sorted(per_user.items()):
            address = user_address(user)
            names[address] = pseudonym(sc.seed, "ev-user", user)  # published: never the id
            out.contributions.setdefault(fsp, []).append(
                UserContribution(
                    session_id=run.session_id,
                    fsp=chain.addresses[fsp].lower(),
                    ev_user=address,
                    shifted_wh=shifted,
                    discharged_wh=discharged,
                )
            )
    return out


def post_contracts(ctx: ReplayContext) -> None:
    """Each FSP posts its signed contracts (once per run) before it commits offers, so the
    set its commitment binds is the one the market holds."""
    for fsp, contracts in sorted(revenue_sharing(ctx, None).contracts.items()):
        for signed in contracts:
            if signed.contract.contract_id not in ctx.contracts_posted:
                ctx.participants[fsp].post_revenue_contract(signed)
                ctx.contracts_posted.add(signed.contract.contract_id)


def name_netting_payees(ctx: ReplayContext, run: SessionRun, sharing: RevenueSharing) -> None:
    """Each FSP that committed offers to the session names, on-chain, who its netting may pay:
    the parties of its contracts and the session's DSOs (uncovered penalties). Only accounts
    not named yet: a naming lasts across sessions.

    ``settleNetting`` debits only the session's FSPs and pays only accounts an FSP it debits
    named, so the clearing house cannot pay an outsider.
    """
    market = ctx.chain.contracts.market
    session_id = uuid_to_bytes32(run.session_id)
    dsos = {market.request(rid).dso.lower() for rid in market.session_requests(session_id)}
    committed = set(run.roots.get("offer_roots", {}))
    for fsp, address in sorted(ctx.chain.addresses.items()):
        if address.lower() not in committed:
            continue
        wanted = dsos | set(contract_payees(sharing.applied(fsp)))
        payees = [
            to_checksum_address(p)
            for p in sorted(wanted)
            if not market.is_netting_payee(address, p)
        ]
        if payees:
            market.name_netting_payees(payees, sender=address)


def post_revenue_sharing(ctx: ReplayContext, run: SessionRun) -> RevenueSharing:
    """Each FSP posts its signed contracts (once per run) and this session's contributions,
    and names the contracts' parties as the session's netting payees on-chain.

    EV users get their keys on the chain client so they can withdraw what the netting credits.
    """
    sharing = revenue_sharing(ctx, run)
    post_contracts(ctx)  # posted before the first commitment already: a no-op then
    for fsp, contributions in sorted(sharing.contributions.items()):
        # a message id from the session and FSP: the published envelope is the same each run
        message_id = str(uuid.uuid5(uuid.UUID(run.session_id), f"contributions:{fsp.lower()}"))
        ctx.clients[fsp].post_contributions(run.session_id, contributions, message_id=message_id)
    for key in sharing.user_keys.values():
        ctx.chain.client.add_account(key)
    name_netting_payees(ctx, run, sharing)
    return sharing


def netting_outcome(
    ctx: ReplayContext, run: SessionRun, sharing: RevenueSharing
) -> NettingOutcome | None:
    """The clearing house's stored period for the session; None when it had nothing to net."""
    engine = ctx.runtime.engine
    saved = store.load_period(engine, run.session_id)
    if saved is None:
        return None
    settlement = PeriodSettlement.model_validate(saved["settlement"])
    if not settlement.onchain.members and not contribution_store.load_contributions(
        engine, run.session_id
    ):
        return None
    return NettingOutcome(settlement=settlement, names=sharing.names, onchain=True)


def implied_sharing(ctx: ReplayContext, run: SessionRun) -> NettingOutcome | None:
    """The period the clearing house would net for the session, computed off-chain only."""
    sharing = revenue_sharing(ctx, run)
    if not sharing.contributions:
        return None
    settlement = session_period(
        engine=ctx.runtime.engine,
        ledger=ctx.chain.ledger,
        bundles=ctx.runtime.bundles,
        session_id=run.session_id,
        fee_recipient=ctx.chain.operator.lower(),
        contributions=[c for rows in sharing.contributions.values() for c in rows],
        contracts=[c for fsp in sorted(sharing.contracts) for c in sharing.applied(fsp)],
    )
    return NettingOutcome(settlement=settlement, names=sharing.names, onchain=False)
