"""Revenue-share templates: the CPO's and the platform's terms signed once, for any EV user.

Why: a revenue-share contract needs every party's signature, and an FSP gateway that makes a
contract for a new EV user (a claim address it creates while issuing a claim) holds only its
own key and the user's. A template is the contract's terms without ``ev_user``, ``contract_id``
and ``nonce``, bound to one FSP and signed once, as EIP-712 typed data in the same domain as the
contracts, by the CPO, the platform and the fleet operator when one is named. An instance of it
is an ordinary :class:`RevenueShareContract` whose terms (validity included) equal the
template's, signed by the FSP and the EV user only; :func:`instance_problems` is the one check
the market, the clearing house and the auditor apply to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field, field_validator

from clearing.encoding import uuid_to_bytes32
from clearing.settlement.revenue import (
    CONTRACT_PRIMARY_TYPE,
    CONTRACT_TYPES,
    ZERO_ADDRESS,
    RevenueShareContract,
    RevenueShareTerms,
    recover_typed,
    sign_typed,
    signature_problems,
    typed_data,
    verify_contract_signatures,
)

__all__ = [
    "TEMPLATE_PRIMARY_TYPE",
    "TEMPLATE_TERMS",
    "TEMPLATE_TYPES",
    "RevenueShareTemplate",
    "field_of",
    "instance_problems",
    "sign_template",
    "template_typed_data",
    "verify_template_signatures",
]

TEMPLATE_PRIMARY_TYPE = "RevenueShareTemplate"
#: the contract's EIP-712 fields without the user's (contractId, evUser, nonce), under an id
TEMPLATE_TYPES: dict[str, list[dict[str, str]]] = {
    TEMPLATE_PRIMARY_TYPE: [
        {"name": "templateId", "type": "bytes32"},
        *(
            f
            for f in CONTRACT_TYPES[CONTRACT_PRIMARY_TYPE]
            if f["name"] not in ("contractId", "evUser", "nonce")
        ),
    ]
}
#: the terms an instance must repeat exactly
TEMPLATE_TERMS: tuple[str, ...] = tuple(RevenueShareTerms.model_fields)


class RevenueShareTemplate(RevenueShareTerms):
    """A contract's terms for any EV user of one FSP (no ``ev_user``): signed by the CPO, the
    platform and the fleet operator when named."""

    template_id: str = Field(min_length=1, max_length=64)

    @field_validator("template_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        uuid_to_bytes32(value)  # a UUID: it is the EIP-712 templateId
        return value

    def signers(self) -> list[str]:
        """Who signs the template: CPO, platform, fleet operator when named (not the FSP,
        which signs each instance)."""
        parties = {self.cpo, self.platform}
        if self.fleet_operator != ZERO_ADDRESS:
            parties.add(self.fleet_operator)
        return sorted(parties)

    def instance(self, *, contract_id: str, ev_user: str, nonce: int = 0) -> RevenueShareContract:
        """The contract for one EV user on exactly these terms."""
        return RevenueShareContract(
            contract_id=contract_id, ev_user=ev_user, nonce=nonce, **self.terms()
        )


def template_typed_data(
    template: RevenueShareTemplate, *, chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """The full EIP-712 message of a template (the contracts' domain)."""
    message = {"templateId": uuid_to_bytes32(template.template_id), **template.terms_message()}
    return typed_data(
        TEMPLATE_TYPES,
        TEMPLATE_PRIMARY_TYPE,
        chain_id=chain_id,
        verifying_contract=verifying_contract,
        message=message,
    )


def sign_template(
    template: RevenueShareTemplate,
    private_key: str | bytes,
    *,
    chain_id: int,
    verifying_contract: str,
) -> str:
    """EIP-712 signature (0x hex) of one signer over the template."""
    return sign_typed(
        template_typed_data(template, chain_id=chain_id, verifying_contract=verifying_contract),
        private_key,
    )


def verify_template_signatures(
    template: RevenueShareTemplate,
    signatures: Iterable[str],
    *,
    chain_id: int,
    verifying_contract: str,
) -> list[str]:
    """Problems with a template's signatures; empty when every signer signed."""
    data = template_typed_data(template, chain_id=chain_id, verifying_contract=verifying_contract)
    recovered = [recover_typed(data, s) for s in signatures]
    return signature_problems(recovered, template.signers(), "of the template")


def field_of(problem: str, prefix: str = "") -> tuple[str, str]:
    """A signature problem (``signatures[1]: reason``) as (field, reason)."""
    field, _, reason = problem.partition(": ")
    return prefix + field, reason


def instance_problems(
    contract: RevenueShareContract,
    signatures: Iterable[str],
    template: RevenueShareTemplate,
    template_signatures: Iterable[str],
    *,
    chain_id: int,
    verifying_contract: str,
) -> list[tuple[str, str]]:
    """Why a contract is not a valid instance of ``template``, as (field, reason) pairs:
    a template for another FSP, terms that differ, the template's signers missing, or the
    FSP's or the user's signature missing. Empty: the contract binds all its parties. Fields
    are paths in a signed contract ``{contract, signatures, template: {template, signatures}}``
    (:class:`market.clearing_house.period.SignedContract`)."""
    tid = template.template_id
    if template.fsp != contract.fsp:
        why = f"template {tid} is for FSP {template.fsp}, not {contract.fsp}"
        return [("template.template.fsp", why)]
    out = [
        (f"contract.{name}", f"{mine!r} differs from template {tid}'s {theirs!r}")
        for name in TEMPLATE_TERMS
        if (mine := getattr(contract, name)) != (theirs := getattr(template, name))
    ]
    out += [
        field_of(p, "template.")  # the template's own list: template.signatures[i]
        for p in verify_template_signatures(
            template, template_signatures, chain_id=chain_id, verifying_contract=verifying_contract
        )
    ]
    out += [
        field_of(p)
        for p in verify_contract_signatures(
            contract,
            signatures,
            signers=[contract.fsp, contract.ev_user],
            chain_id=chain_id,
            verifying_contract=verifying_contract,
        )
    ]
    return out
