"""Signing a revenue-share template (issue 19): what the CPO, the platform and a named fleet
operator each run once, so that an FSP gateway can make contracts for EV users without a
wallet (its claims) without holding their keys.

The input is the template's terms, or a template already signed by others (``{template,
signatures}``); the output adds this key's signature, after checking the signatures already
there. The result goes into the FSP's ``fsp.yaml`` under ``netting.templates``.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from pydantic import ValidationError

from clearing.settlement.revenue_template import sign_template, verify_template_signatures
from market.clearing_house.period import SignedTemplate
from market.participant.errors import ParticipantError

__all__ = ["add_template_signature"]


def _parse(raw: Any) -> SignedTemplate:
    doc = raw if isinstance(raw, dict) and "template" in raw else {"template": raw}
    doc = {"signatures": [], **doc}
    try:
        return SignedTemplate.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParticipantError(where, str(first["msg"])) from exc


def add_template_signature(
    raw: Any, key: str, *, chain_id: int, verifying_contract: str
) -> tuple[SignedTemplate, list[str]]:
    """``raw`` (terms, or a signed template) signed by ``key`` too, and who must still sign.
    Refusals name the field: the template's terms, ``signatures[i]`` (an invalid signature
    already there), ``key`` (not a signer of this template)."""
    signed = _parse(raw)
    template = signed.template

    def problems(sigs: tuple[str, ...]) -> list[str]:
        return verify_template_signatures(
            template, sigs, chain_id=chain_id, verifying_contract=verifying_contract
        )

    wrong = [p for p in problems(signed.signatures) if not p.startswith("signatures: missing")]
    if wrong:
        field, _, reason = wrong[0].partition(": ")
        raise ParticipantError(field, reason)
    try:
        me = str(Account.from_key(key).address).lower()
    except (ValueError, TypeError) as exc:
        raise ParticipantError("key", f"not a valid private key ({type(exc).__name__})") from exc
    if me not in template.signers():
        raise ParticipantError(
            "key",
            f"{me} is not a signer of template {template.template_id}: "
            f"its signers are {', '.join(template.signers())}",
        )
    mine = sign_template(template, key, chain_id=chain_id, verifying_contract=verifying_contract)
    sigs = signed.signatures if mine in signed.signatures else (*signed.signatures, mine)
    missing = [p.removeprefix("signatures: missing ") for p in problems(sigs)]
    return SignedTemplate(template=template, signatures=sigs), missing
