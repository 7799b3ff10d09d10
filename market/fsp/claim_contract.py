"""What ``flexmarket fsp run`` signs while it issues a claim (issue 19): the claim address's
revenue-share contract, an instance of a pre-signed template.

Why a template: a contract binds the FSP, the EV user, the CPO, the platform and the fleet
operator, and the gateway holds only its own key and, while issuing, the claim key. The CPO,
the platform (and the fleet operator when named) sign the terms once for this FSP
(``netting.templates`` in ``fsp.yaml``, made with ``flexmarket participant sign-template``);
the gateway makes the instance for the claim address, signs it with its key and the claim key,
posts it to the market (which checks it against the template) and names the claim address
and the template's parties as netting payees on-chain. No one else's key is in the gateway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from adapters.chain.errors import ChainError
from clearing.settlement.revenue import ZERO_ADDRESS, sign_contract
from market.clearing_house.period import SignedContract, SignedTemplate
from market.errors import ChainUnavailable, Conflict
from market.fsp.claims import OnIssue
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

__all__ = ["check_templates", "claim_signer", "current_template"]


def check_templates(templates: Sequence[SignedTemplate], fsp: str) -> None:
    """Every template must be this FSP's: one for another FSP stops the gateway at start
    (field ``netting.templates[i].template.fsp``) rather than failing each claim later."""
    for i, signed in enumerate(templates):
        if signed.template.fsp != fsp.lower():
            raise ParticipantError(
                f"netting.templates[{i}].template.fsp",
                f"{signed.template.fsp} is not this gateway's address {fsp.lower()}",
            )


def current_template(templates: Sequence[SignedTemplate], now: int) -> SignedTemplate | None:
    """The first template (in file order) valid now and for the longest still: a claim's
    contract lasts as long as its template (the claim key signs once)."""
    live = [t for t in templates if t.template.active_at(now)]
    return max(live, key=lambda t: t.template.valid_until, default=None)


def claim_signer(
    participant: Participant,
    key: str,
    templates: Sequence[SignedTemplate],
    paid_elsewhere: Mapping[str, str],
    now: Callable[[], float],
    log: Callable[[dict[str, Any]], None],
    keep: Callable[[SignedContract], None] = lambda _signed: None,
    forget: Callable[[str], None] = lambda _contract_id: None,
) -> OnIssue:
    """The gateway's ``on_issue``: ``keep`` the claim address's contract (a restarted gateway
    commits it too), post it (it joins the set the FSP's next commitment binds; ``forget``
    it when the market refuses it), name the payees. ``paid_elsewhere``: users whose share
    already goes to an address (``netting.ev_users``)."""

    def on_issue(user_id: str, claim: LocalAccount) -> None:
        if user_id in paid_elsewhere:
            raise Conflict(
                f"your share is paid to {paid_elsewhere[user_id]} (the FSP's netting.ev_users)",
                field="claim",
            )
        at = int(now())
        signed_template = current_template(templates, at)
        if signed_template is None:
            raise Conflict(
                f"no revenue-share template of this gateway is valid at {at} "
                "(netting.templates): the CPO and the platform must sign a new one",
                field="claim",
            )
        chain = participant.chain
        chain_id, market_address = chain.market.client.chain_id, chain.market.address
        contract = signed_template.template.instance(
            contract_id=str(uuid.uuid4()), ev_user=claim.address.lower()
        )
        signed = SignedContract(
            contract=contract,
            signatures=tuple(
                sign_contract(contract, k, chain_id=chain_id, verifying_contract=market_address)
                for k in (key, claim.key)
            ),
            template=signed_template,
        )
        # Kept (and in the set the FSP commits) before it is posted: a post whose answer is
        # lost may have reached the market, and the FSP's set must stay the market's. Before
        # each commitment the gateway posts its kept claim contracts again (idempotent).
        keep(signed)
        participant.contracts[contract.contract_id] = contract
        try:
            participant.post_revenue_contract(signed)
        except ParticipantError as exc:  # the market answered: it holds no such contract
            forget(contract.contract_id)
            participant.contracts.pop(contract.contract_id, None)
            raise Conflict(
                f"the market refused your claim's contract: {exc}", field="claim"
            ) from exc
        except httpx.HTTPError as exc:
            raise ChainUnavailable(
                f"the market did not answer ({exc}): try again later", field="claim"
            ) from exc
        parties = {contract.ev_user, contract.cpo, contract.platform, contract.fleet_operator}
        me = to_checksum_address(participant.address)
        try:
            payees = [
                to_checksum_address(p)
                for p in sorted(parties - {ZERO_ADDRESS})
                if not chain.market.is_netting_payee(me, p)
            ]
            if payees:
                chain.market.name_netting_payees(payees, sender=me)
        except ChainError as exc:
            raise ChainUnavailable(
                f"cannot name the claim as a payee: {exc}", field="claim"
            ) from exc
        log(
            {
                "event": "claim_contract_posted",
                "user_id": user_id,
                "contract_id": contract.contract_id,
                "template_id": signed_template.template.template_id,
            }
        )

    return on_issue
