"""The FSP gateway's side of the clearing house (issue 19), from its ``netting`` config.

After it dispatched a session's orders the gateway posts its signed revenue-sharing contracts
and each EV user's contribution (the energy the dispatch plan shifted and discharged per user,
as the replay's FSP reports it), and names on-chain the accounts the netting may pay: its
contracts' parties and the session's DSOs (uncovered penalties), only those not named yet.
It withdraws a FINAL session's credit only once the market netted it: withdrawn first, the
credit would be gone and the netting's debits would become receivables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_utils.address import to_checksum_address

from adapters.chain.errors import ChainError
from clearing.encoding import uuid_to_bytes32
from clearing.settlement.revenue import UserContribution
from market.agents.fsp import DispatchPlan, Incentive
from market.clearing_house.period import contract_payees
from market.client import ApiError
from market.fsp.config import NettingConfig
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

__all__ = ["RevenueSharing", "is_netted", "post_contracts", "share_revenue", "user_contributions"]


def user_contributions(
    session_id: str, fsp: str, incentives: Iterable[Incentive], ev_users: dict[str, str]
) -> list[UserContribution]:
    """Per EV user (address), the energy its EVs shifted and discharged; EVs without a user
    in the config are the FSP's own."""
    per_user: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for inc in sorted(incentives, key=lambda i: i.ev_id):
        user = ev_users.get(inc.ev_id)
        if user is None:
            continue
        per_user[user][0] += inc.shifted_wh
        per_user[user][1] += inc.discharged_wh
    return [
        UserContribution(
            session_id=session_id,
            fsp=fsp.lower(),
            ev_user=user,
            shifted_wh=shifted,
            discharged_wh=discharged,
        )
        for user, (shifted, discharged) in sorted(per_user.items())
    ]


def post_contracts(participant: Participant, cfg: NettingConfig | None, posted: set[str]) -> None:
    """Before a commitment, which binds the set of contracts the FSP's netting may apply: post
    the config's contracts this process has not posted yet, and make them the set it commits
    (the market holds every contract the FSP posted: keep them all in the config)."""
    for signed in cfg.contracts if cfg is not None else ():
        if signed.contract.contract_id not in posted:
            participant.post_revenue_contract(signed)
            posted.add(signed.contract.contract_id)
        participant.contracts[signed.contract.contract_id] = signed.contract


def share_revenue(
    participant: Participant,
    cfg: NettingConfig,
    session_id: str,
    plan: DispatchPlan,
    posted: set[str],
    log: Callable[[dict[str, Any]], None],
    claimed: dict[str, str] | None = None,
) -> None:
    """Post the contracts (once per process: ``posted``), the session's contributions from
    the dispatch ``plan``, and name the payees not named yet. Every step is idempotent at the
    market (an upsert, a naming), so a restart simply repeats it."""
    client = participant.client
    post_contracts(participant, cfg, posted)
    users = {**(claimed or {}), **cfg.ev_users}  # a claim's user: the claim address (issued once)
    rows = user_contributions(session_id, participant.address, plan.incentives, users)
    if rows:
        client.post_contributions(session_id, rows)
    market, me = participant.chain.market, to_checksum_address(participant.address)
    sid = uuid_to_bytes32(session_id)
    dsos = {market.request(rid).dso.lower() for rid in market.session_requests(sid)}
    wanted = dsos | set(contract_payees(cfg.contracts))
    payees = [to_checksum_address(p) for p in sorted(wanted) if not market.is_netting_payee(me, p)]
    if payees:
        market.name_netting_payees(payees, sender=me)
    log({"event": "revenue_shared", "session_id": session_id, "contributions": len(rows)})


@dataclass
class RevenueSharing:
    """The sessions whose revenue sharing is still to post, kept apart from dispatch.

    Why: sharing makes HTTP posts and a transaction; run before the schedules were kept and
    sent, one refused contract or node error would hold back (or crash) the dispatch of every
    verified order. The gateway queues a session's plan once it is stored and retries each pass
    until the market took it; a refusal is logged, never raised. The queue is in memory: after
    a restart a session whose sharing had not gone through is not shared (its netting then pays
    no revenue share; the log says which).
    """

    posted: set[str] = field(default_factory=set)  # revenue contracts this process posted
    pending: dict[str, DispatchPlan] = field(default_factory=dict)
    claimed: Callable[[], dict[str, str]] = dict  # user id -> claim address (the ClaimDesk's)

    def retry(
        self,
        participant: Participant,
        cfg: NettingConfig,
        log: Callable[[dict[str, Any]], None],
    ) -> None:
        for sid, plan in sorted(self.pending.items()):
            try:
                share_revenue(participant, cfg, sid, plan, self.posted, log, self.claimed())
            except (ApiError, ChainError, ParticipantError, httpx.HTTPError) as exc:
                reason = str(exc) or type(exc).__name__
                log(
                    {
                        "event": "revenue_share_failed",
                        "session_id": sid,
                        "reason": reason,
                        "level": "error",
                    }
                )
            else:
                del self.pending[sid]


def is_netted(participant: Participant, session_id: str) -> bool:
    """Whether the market's clearing house has netted the session (``GET /statements``)."""
    return session_id in participant.client.netted_periods()
