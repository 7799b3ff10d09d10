"""The FSP gateway's side of the clearing house (issue 19): whenever the market nets
(``GET /deployment``), with or without the gateway's ``netting`` config.

After it dispatched a session's orders the gateway posts its signed revenue-sharing contracts
and each EV user's contribution (the energy the dispatch plan shifted and discharged per user,
as the replay's FSP reports it), and names on-chain the accounts the netting may pay: its
contracts' parties and the session's DSOs (uncovered penalties), only those not named yet.
It withdraws a FINAL session's credit only once the market netted it: withdrawn first, the
credit would be gone and the netting's debits would become receivables.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_utils.address import to_checksum_address

from adapters.chain.errors import ChainError
from clearing.encoding import uuid_to_bytes32
from clearing.settlement.revenue import UserContribution
from market.agents.fsp import DispatchPlan, Incentive
from market.clearing_house.period import SignedContract, contract_payees
from market.client import ApiError
from market.fsp.config import NettingConfig
from market.fsp.sharing_queue import SharingQueue
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

__all__ = [
    "NettingGate",
    "RevenueSharing",
    "is_netted",
    "post_contracts",
    "share_revenue",
    "user_contributions",
]


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


def post_contracts(
    participant: Participant,
    cfg: NettingConfig | None,
    posted: set[str],
    claims: Sequence[SignedContract] = (),
) -> None:
    """Before a commitment, which binds the set of contracts the FSP's netting may apply: post
    the config's contracts and the kept ``claims``' contracts this process has not posted yet,
    and make them the set it commits (the market holds every contract the FSP posted: keep
    them all in the config)."""
    for signed in [*(cfg.contracts if cfg is not None else ()), *claims]:
        if signed.contract.contract_id not in posted:
            participant.post_revenue_contract(signed)
            posted.add(signed.contract.contract_id)
        participant.contracts[signed.contract.contract_id] = signed.contract


def share_revenue(
    participant: Participant,
    cfg: NettingConfig,
    session_id: str,
    rows: Sequence[UserContribution],
    posted: set[str],
    log: Callable[[dict[str, Any]], None],
) -> None:
    """Post the contracts (once per process: ``posted``), the session's contributions
    (``rows``, from its dispatch plan), and name the payees not named yet. Every step is
    idempotent at the market (an upsert, a naming), so a restart simply repeats it."""
    client = participant.client
    post_contracts(participant, cfg, posted)
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
    verified order. The gateway queues a session's contributions once its plan is stored and
    retries each pass until the market took them; a refusal is logged, never raised. The queue
    is in the gateway's database (:class:`SharingQueue`): a restarted gateway resumes it.
    """

    queue: SharingQueue
    posted: set[str] = field(default_factory=set)  # revenue contracts this process posted
    claimed: Callable[[], dict[str, str]] = dict  # user id -> claim address (the ClaimDesk's)
    claims: Callable[[], list[SignedContract]] = list  # the ClaimDesk's kept contracts

    def add(
        self, participant: Participant, cfg: NettingConfig, session_id: str, plan: DispatchPlan
    ) -> None:
        """Queue the session's contributions from its dispatch ``plan`` (once); a claim's
        user is paid at the claim address (issued once)."""
        users = {**self.claimed(), **cfg.ev_users}
        rows = user_contributions(session_id, participant.address, plan.incentives, users)
        self.queue.put(session_id, rows)

    def retry(
        self,
        participant: Participant,
        cfg: NettingConfig,
        log: Callable[[dict[str, Any]], None],
    ) -> None:
        for sid, rows in self.queue.pending().items():
            try:
                share_revenue(participant, cfg, sid, rows, self.posted, log)
            except ApiError as exc:
                if exc.status == 409 and exc.problem.get("field") == "body.session_id":
                    # netted already: the rows can no longer count; said once, not retried
                    log({"event": "revenue_share_too_late", "session_id": sid, "reason": str(exc),
                         "level": "error"})  # fmt: skip
                    self.queue.mark_shared(sid)
                else:
                    log({"event": "revenue_share_failed", "session_id": sid, "reason": str(exc),
                         "level": "error"})  # fmt: skip
            except (ChainError, ParticipantError, httpx.HTTPError) as exc:
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
                self.queue.mark_shared(sid)


@dataclass
class NettingGate:
    """Whether the market nets, hence whether the gateway shares revenue, names the session's
    DSOs as payees and waits for the netting before it withdraws a FINAL session's credit.

    Why ask the market: it nets by default (``FLEXMARKET_NETTING``); a gateway without a
    ``netting`` section used to withdraw at FINAL and name no DSO, so a netting that had to
    pay the DSO an uncovered penalty could never settle. ``GET /deployment`` says ``netting``;
    a market that does not say (an older one, or unreachable) is taken to net when the gateway
    has a ``netting`` section. Never forever: ``wait_s`` after the gateway saw the session
    FINAL it withdraws anyway, and logs so.
    """

    section: NettingConfig | None
    wait_s: int
    final_since: Callable[[str], int | None]  # when the gateway first saw a session FINAL
    log: Callable[[dict[str, Any]], None]
    ttl_s: float = 60.0  # how long the market's answer is kept
    _nets: bool | None = None
    _read_at: float = float("-inf")
    _said: set[tuple[str, str]] = field(default_factory=set)

    def market_nets(self, participant: Participant) -> bool:
        if time.monotonic() - self._read_at > self.ttl_s:
            try:
                said = participant.client.deployment().get("netting")
            except (ApiError, httpx.HTTPError):
                said = None  # asked again next time; meanwhile the last answer stands
            else:
                self._read_at = time.monotonic()
            if isinstance(said, bool):
                self._nets = said
        return self.last_known()

    def last_known(self) -> bool:
        """Whether the market nets as last read (no request): the ``netting`` section decides
        until the market said."""
        return self._nets if self._nets is not None else self.section is not None

    def config(self, participant: Participant) -> NettingConfig | None:
        """The sharing to post: the ``netting`` section, else (the market nets) none but the
        DSOs to name; None when there is nothing to do."""
        if self.section is not None:
            return self.section
        return NettingConfig() if self.market_nets(participant) else None

    def may_withdraw(self, participant: Participant, session_id: str, now: float) -> bool:
        """True once the market netted the FINAL session, when it does not net, or after
        ``wait_s`` (logged: the netting's debits then become receivables)."""
        if not self.market_nets(participant) or is_netted(participant, session_id):
            return True
        since = self.final_since(session_id)
        waited = int(now) - since if since is not None else 0
        if waited >= self.wait_s:
            self._once(
                session_id,
                "withdraw_without_netting",
                waited_s=waited,
                netting_wait_s=self.wait_s,
                reason="the market did not net the session within netting_wait_s",
                level="warning",
            )
            return True
        self._once(session_id, "waiting_for_netting", netting_wait_s=self.wait_s)
        return False

    def _once(self, session_id: str, event: str, **detail: Any) -> None:
        if (session_id, event) not in self._said:
            self._said.add((session_id, event))
            self.log({"event": event, "session_id": session_id, **detail})


def is_netted(participant: Participant, session_id: str) -> bool:
    """Whether the market's clearing house has netted the session (``GET /statements``)."""
    return session_id in participant.client.netted_periods()
