"""Clearing-house netting for a replayed session: the scenario's revenue-sharing contracts,
signed by every party, turned into obligations and settled on-chain with ``settleNetting``.

Why in the replay: the service has no netting step yet. This does what the clearing house
would do after ``finalize``: sign one contract per (FSP, EV user) from the scenario's
``contracts``, take each user's contribution from the FSP's dispatch, run
``market.clearing_house.period.settle_period`` and post its on-chain netting.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account import Account

from clearing.settlement.revenue import RevenueShareContract, UserContribution, sign_contract
from market.clearing_house.period import PeriodSettlement, SignedContract, settle_period
from market.replay.derive import derived_key, derived_uuid

if TYPE_CHECKING:
    from market.replay.runner import ReplayContext, SessionRun

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class NettingOutcome:
    settlement: PeriodSettlement
    names: dict[str, str]  # lower-case address -> participant / user id
    gas_used: int


def user_id(user: str) -> str:
    """Key derivation id of an EV user (users are not scenario participants)."""
    return f"user:{user}"


def settle_revenue(ctx: ReplayContext, run: SessionRun) -> NettingOutcome | None:
    """Sign contracts, settle the period off-chain, post the netting; None if nothing to do."""
    sc, chain = ctx.scenario, ctx.chain
    if run.delivery is None:
        return None
    market = chain.contracts.market
    chain_id, verifying = chain.client.chain_id, market.address
    names = {a.lower(): pid for pid, a in chain.addresses.items()}
    keys = {a.lower(): derived_key(sc.seed, pid) for pid, a in chain.addresses.items()}

    def user_address(user: str) -> str:
        key = derived_key(sc.seed, user_id(user))
        address = str(Account.from_key(key).address).lower()
        keys[address], names[address] = key, user
        return address

    contract_of = {c.fsp: c for c in sc.contracts}
    cpo_of = {st.id: st.cpo for st in sc.stations}
    stay_of = {s.ev.id: s for s in ctx.stays}
    midnight = int(dt.datetime.combine(sc.period.day, dt.time(0), tzinfo=dt.UTC).timestamp())
    contracts: list[SignedContract] = []
    contributions: list[UserContribution] = []
    for fsp, plan in sorted(run.plans.items()):
        terms = contract_of.get(fsp)
        if terms is None:
            continue
        per_user: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        first_ev: dict[str, str] = {}
        for inc in sorted(plan.incentives, key=lambda i: i.ev_id):
            stay = stay_of[inc.ev_id]
            user = stay.ev.user or stay.ev.id
            per_user[user][0] += inc.shifted_wh
            per_user[user][1] += inc.discharged_wh
            first_ev.setdefault(user, inc.ev_id)
        for user, (shifted, discharged) in sorted(per_user.items()):
            stay = stay_of[first_ev[user]]
            contract = RevenueShareContract(
                contract_id=derived_uuid(sc.seed, "contract", fsp, user),
                fsp=chain.addresses[fsp].lower(),
                ev_user=user_address(user),
                fleet_operator=chain.addresses[terms.fleet_operator].lower()
                if terms.fleet_operator
                else ZERO_ADDRESS,
                cpo=chain.addresses[cpo_of[stay.station]].lower(),
                platform=chain.operator.lower(),
                user_incentive_mode="per_kwh",
                user_incentive_per_kwh_shifted_units=stay.ev.incentive_per_kwh_units,
                fleet_share_ppm=terms.fleet_share_ppm,
                cpo_fee_per_kwh_units=terms.cpo_fee_per_kwh_units,
                platform_fee_ppm=terms.platform_fee_ppm or sc.market.platform_fee_ppm,
                valid_from=midnight - 7 * 86400,
                valid_until=midnight + 30 * 86400,
            )
            signatures = tuple(
                sign_contract(
                    contract, keys[party], chain_id=chain_id, verifying_contract=verifying
                )
                for party in contract.signers()
            )
            contracts.append(SignedContract(contract=contract, signatures=signatures))
            contributions.append(
                UserContribution(
                    session_id=run.session_id,
                    fsp=contract.fsp,
                    ev_user=contract.ev_user,
                    shifted_wh=shifted,
                    discharged_wh=discharged,
                )
            )
    if not contracts:
        return None
    dso_of_request = {
        req.request_id: chain.addresses[dso].lower() for dso in run.dso for req in run.requests
    }
    settlement = settle_period(
        period=run.session_id,
        reports=[run.delivery.report],
        dso_of_request=dso_of_request,
        contributions=contributions,
        contracts=contracts,
        fee_recipient=chain.operator.lower(),
        chain_id=chain_id,
        verifying_contract=verifying,
        at_ts=chain.client.block_timestamp(),
    )
    gas = 0
    if settlement.onchain.members:
        tx = market.settle_netting(*settlement.onchain.settle_netting_args(), sender=chain.operator)
        gas = int(tx.gas_used)
    for address in names:  # users hold credit now; they withdraw like everyone else
        if address not in {a.lower() for a in chain.addresses.values()}:
            chain.client.add_account(keys[address])
    return NettingOutcome(settlement=settlement, names=names, gas_used=gas)
