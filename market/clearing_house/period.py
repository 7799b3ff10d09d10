"""Settle one period: market payouts + signed revenue-sharing contracts -> netting + statements.

Pure orchestration (no I/O): the market service loads delivery reports, contributions and
signed contracts from its store, calls :func:`settle_period`, then sends
``result.onchain.settle_netting_args()`` to ``settleNetting`` (after the sessions' ``finalize``
credited the FSPs) and serves the statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from clearing.settlement.delivery import DeliveryReport
from clearing.settlement.netting import (
    NettingResult,
    Obligation,
    market_obligations,
    net_obligations,
)
from clearing.settlement.revenue import (
    ZERO_ADDRESS,
    RevenueShareContract,
    UserContribution,
    revenue_obligations,
    verify_contract_signatures,
)
from clearing.settlement.revenue_template import (
    RevenueShareTemplate,
    field_of,
    instance_problems,
)
from clearing.settlement.rules import SettlementError
from market.clearing_house.statements import (
    Statement,
    UserEarning,
    build_statements,
    ev_user_earnings,
)

__all__ = [
    "PeriodSettlement",
    "SignedContract",
    "SignedTemplate",
    "contract_payees",
    "settle_period",
]


class SignedTemplate(BaseModel):
    """A revenue-share template with its signers' EIP-712 signatures (CPO, platform, fleet
    operator when named): what an FSP may instantiate for any EV user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: RevenueShareTemplate
    signatures: tuple[str, ...]


class SignedContract(BaseModel):
    """A revenue-sharing contract with its EIP-712 signatures: every party's, or, as an
    instance of ``template``, the FSP's and the EV user's (the template carries the rest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract: RevenueShareContract
    signatures: tuple[str, ...]
    template: SignedTemplate | None = None

    @model_serializer(mode="wrap")
    def _no_template_no_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A contract without a template serialises as before templates existed: the same
        canonical bytes, so published bundles and their commitments do not change."""
        out = handler(self)
        if isinstance(out, dict) and out.get("template", 0) is None:
            del out["template"]
        return out

    def problems(self, *, chain_id: int, verifying_contract: str) -> list[tuple[str, str]]:
        """Why the contract binds not all its parties, as (field, reason) pairs; empty when it
        does. The one check the market's POST, :func:`settle_period` and the auditor apply."""
        if self.template is None:
            return [
                field_of(p)
                for p in verify_contract_signatures(
                    self.contract,
                    self.signatures,
                    chain_id=chain_id,
                    verifying_contract=verifying_contract,
                )
            ]
        return instance_problems(
            self.contract,
            self.signatures,
            self.template.template,
            self.template.signatures,
            chain_id=chain_id,
            verifying_contract=verifying_contract,
        )


def contract_payees(contracts: Sequence[SignedContract]) -> list[str]:
    """Who an FSP's revenue sharing may pay (EV users, fleet operators, CPOs, the platform),
    sorted: what the FSP names on-chain with ``nameNettingPayees`` so that ``settleNetting``
    accepts them as parties of its session."""
    parties = {
        party
        for signed in contracts
        for party in (
            signed.contract.ev_user,
            signed.contract.fleet_operator,
            signed.contract.cpo,
            signed.contract.platform,
        )
    }
    parties.discard(ZERO_ADDRESS)
    return sorted(parties)


class PeriodSettlement(BaseModel):
    """Everything the clearing house produces for one settlement period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    obligations: tuple[Obligation, ...]
    netting: NettingResult
    onchain: NettingResult
    statements: dict[str, Statement]
    user_earnings: tuple[UserEarning, ...]


def settle_period(
    *,
    period: str,
    reports: Sequence[DeliveryReport],
    dso_of_request: Mapping[str, str],
    contributions: Sequence[UserContribution],
    contracts: Sequence[SignedContract],
    fee_recipient: str,
    chain_id: int,
    verifying_contract: str,
    at_ts: int,
    settled_kinds: tuple[str, ...] = ("flex_payout",),
) -> PeriodSettlement:
    """Net a period's obligations; every contract must bind all its parties
    (:meth:`SignedContract.problems`).

    ``netting`` nets every obligation (DSO -> FSP payouts included) and backs the statements;
    ``onchain`` leaves out ``settled_kinds`` - the payouts FlexMarket's ``finalize`` already
    credits to FSPs - and is what goes to ``settleNetting``.  Both sum to ``-fee``.
    """
    by_fsp_user: dict[str, dict[str, RevenueShareContract]] = defaultdict(dict)
    for signed in contracts:
        problems = signed.problems(chain_id=chain_id, verifying_contract=verifying_contract)
        if problems:
            raise SettlementError(
                f"contracts[{signed.contract.contract_id}]: "
                + "; ".join(f"{field}: {reason}" for field, reason in problems)
            )
        by_fsp_user[signed.contract.fsp][signed.contract.ev_user] = signed.contract
    obligations: list[Obligation] = []
    for report in reports:
        obligations += market_obligations(report, dso_of_request)
        revenue_by_fsp: dict[str, int] = defaultdict(int)
        for line in report.payouts:
            revenue_by_fsp[line.fsp] += line.payout_units
        fsps = sorted(set(revenue_by_fsp) | {c.fsp for c in contributions})
        for fsp in fsps:
            session_contribs = [
                c for c in contributions if c.fsp == fsp and c.session_id == report.session_id
            ]
            if not session_contribs:
                continue
            obligations += revenue_obligations(
                session_id=report.session_id,
                fsp=fsp,
                fsp_revenue_units=revenue_by_fsp.get(fsp, 0),
                contributions=session_contribs,
                contracts=by_fsp_user.get(fsp, {}),
                at_ts=at_ts,
            )
    netting = net_obligations(obligations, period=period, fee_recipient=fee_recipient)
    onchain = net_obligations(
        [o for o in obligations if o.kind not in settled_kinds],
        period=period,
        fee_recipient=fee_recipient,
    )
    return PeriodSettlement(
        obligations=tuple(sorted(obligations, key=Obligation.sort_key)),
        netting=netting,
        onchain=onchain,
        statements=build_statements(obligations, netting, onchain),
        user_earnings=tuple(ev_user_earnings(obligations, contributions)),
    )
