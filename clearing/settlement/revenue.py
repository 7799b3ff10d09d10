"""Revenue-sharing contracts between an FSP and the parties behind its flexibility.

One contract per (FSP, EV user) names the EV user, the fleet operator (zero address if none),
the CPO and the platform, and fixes, all in integers:

* the EV user incentive: ``percent`` of the user's share of the FSP's market revenue
  (``user_incentive_ppm``), or ``per_kwh`` shifted / discharged (token units per kWh);
* the fleet operator's share of that revenue (ppm);
* the CPO fee per kWh that flowed through its chargers (shifted + discharged);
* the platform fee (ppm of that revenue), netted as a fee.

Every party signs the contract as EIP-712 typed data (:data:`CONTRACT_TYPES`), verified here
with eth-account.  A user's share of the FSP revenue for a session is pro rata to its flexible
energy (shifted + discharged Wh), split exactly (floor, remainder one unit at a time in user
order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clearing.encoding import uuid_to_bytes32
from clearing.settlement.netting import Obligation
from clearing.settlement.rules import SettlementError
from clearing.units import PPM, apply_ppm

__all__ = [
    "CONTRACT_PRIMARY_TYPE",
    "CONTRACT_TYPES",
    "ZERO_ADDRESS",
    "RevenueShareContract",
    "RevenueShareTerms",
    "UserContribution",
    "contract_typed_data",
    "recover_contract_signer",
    "recover_typed",
    "revenue_obligations",
    "sign_contract",
    "sign_typed",
    "signature_problems",
    "typed_data",
    "verify_contract_signatures",
]

ZERO_ADDRESS = "0x" + "00" * 20
DOMAIN_NAME = "FlexMarket Clearing House"
DOMAIN_VERSION = "1"
CONTRACT_PRIMARY_TYPE = "RevenueShareContract"
CONTRACT_TYPES: dict[str, list[dict[str, str]]] = {
    CONTRACT_PRIMARY_TYPE: [
        {"name": "contractId", "type": "bytes32"},
        {"name": "fsp", "type": "address"},
        {"name": "evUser", "type": "address"},
        {"name": "fleetOperator", "type": "address"},
        {"name": "cpo", "type": "address"},
        {"name": "platform", "type": "address"},
        {"name": "userIncentiveMode", "type": "uint8"},
        {"name": "userIncentivePpm", "type": "uint32"},
        {"name": "userIncentivePerKwhShiftedUnits", "type": "uint256"},
        {"name": "userIncentivePerKwhDischargedUnits", "type": "uint256"},
        {"name": "fleetSharePpm", "type": "uint32"},
        {"name": "cpoFeePerKwhUnits", "type": "uint256"},
        {"name": "platformFeePpm", "type": "uint32"},
        {"name": "validFrom", "type": "uint64"},
        {"name": "validUntil", "type": "uint64"},
        {"name": "nonce", "type": "uint256"},
    ]
}
_MODES = {"percent": 0, "per_kwh": 1}
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(value: str, field: str) -> str:
    if not _ADDRESS_RE.match(value):
        raise ValueError(f"{field}: must be a 0x-prefixed 20-byte hex address")
    return value.lower()


class RevenueShareTerms(BaseModel):
    """What a contract fixes besides who the EV user is: the parties, the incentive, the
    shares and fees, the validity. A contract and a template share exactly these."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    fsp: str
    fleet_operator: str = ZERO_ADDRESS
    cpo: str
    platform: str
    user_incentive_mode: Literal["percent", "per_kwh"]
    user_incentive_ppm: int = Field(default=0, ge=0, le=PPM)
    user_incentive_per_kwh_shifted_units: int = Field(default=0, ge=0)
    user_incentive_per_kwh_discharged_units: int = Field(default=0, ge=0)
    fleet_share_ppm: int = Field(default=0, ge=0, le=PPM)
    cpo_fee_per_kwh_units: int = Field(default=0, ge=0)
    platform_fee_ppm: int = Field(default=0, ge=0, le=PPM)
    valid_from: int = Field(ge=0)
    valid_until: int = Field(ge=0)

    @field_validator("fsp", "fleet_operator", "cpo", "platform")
    @classmethod
    def _check_party(cls, value: str, info: Any) -> str:
        return _address(value, str(info.field_name))

    def terms(self) -> dict[str, Any]:
        """These terms alone (what an instance of a template must repeat)."""
        return {name: getattr(self, name) for name in RevenueShareTerms.model_fields}

    def terms_message(self) -> dict[str, Any]:
        """These terms as EIP-712 message fields (camelCase, the mode as its number)."""
        out = {_camel(name): value for name, value in self.terms().items()}
        out["userIncentiveMode"] = _MODES[self.user_incentive_mode]
        return out

    def active_at(self, ts: int) -> bool:
        return self.valid_from <= ts < self.valid_until


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class RevenueShareContract(RevenueShareTerms):
    """Terms between an FSP and one EV user (plus fleet operator, CPO and platform)."""

    contract_id: str
    ev_user: str
    nonce: int = Field(default=0, ge=0)

    @field_validator("ev_user")
    @classmethod
    def _check_user(cls, value: str) -> str:
        return _address(value, "ev_user")

    def signers(self) -> list[str]:
        """Parties whose signature the contract needs (fleet operator only when named)."""
        parties = [self.fsp, self.ev_user, self.cpo, self.platform]
        if self.fleet_operator != ZERO_ADDRESS:
            parties.append(self.fleet_operator)
        return sorted(set(parties))


class UserContribution(BaseModel):
    """Flexible energy one EV user provided to an FSP in a session."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    session_id: str
    fsp: str
    ev_user: str
    shifted_wh: int = Field(ge=0)
    discharged_wh: int = Field(ge=0)

    @field_validator("fsp", "ev_user")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @property
    def flex_wh(self) -> int:
        return self.shifted_wh + self.discharged_wh


def contract_typed_data(
    contract: RevenueShareContract, *, chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """The full EIP-712 message (domain, types, primary type, message)."""
    return typed_data(
        CONTRACT_TYPES,
        CONTRACT_PRIMARY_TYPE,
        chain_id=chain_id,
        verifying_contract=verifying_contract,
        message={
            "contractId": uuid_to_bytes32(contract.contract_id),
            "evUser": contract.ev_user,
            "nonce": contract.nonce,
            **contract.terms_message(),
        },
    )


def typed_data(
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    *,
    chain_id: int,
    verifying_contract: str,
    message: dict[str, Any],
) -> dict[str, Any]:
    """An EIP-712 message in the clearing house's domain (contracts and their templates)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **types,
        },
        "primaryType": primary_type,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": message,
    }


def sign_typed(data: dict[str, Any], private_key: str | bytes) -> str:
    """EIP-712 signature (0x hex) of ``data``."""
    signed = Account.sign_typed_data(private_key, full_message=data)
    return "0x" + bytes(signed.signature).hex()


def recover_typed(data: dict[str, Any], signature: str) -> str | None:
    """Lower-case address behind ``signature`` over ``data``, or None when not recoverable."""
    try:
        return str(
            Account.recover_message(encode_typed_data(full_message=data), signature=signature)
        ).lower()
    except Exception:  # eth-account raises several types for malformed signatures
        return None


def signature_problems(
    recovered: Sequence[str | None], signers: Sequence[str], of: str, where: str = "signatures"
) -> list[str]:
    """Problems of a signature list whose signers were ``recovered``: unreadable ones, ones
    by someone not in ``signers`` (``of``: what they would sign), each signer missing."""
    signed: set[str] = set()
    problems: list[str] = []
    for i, who in enumerate(recovered):
        if who is None:
            problems.append(f"{where}[{i}]: not a valid signature")
        elif who not in signers:
            problems.append(f"{where}[{i}]: {who} is not a party {of}")
        else:
            signed.add(who)
    return problems + [f"{where}: missing {p}" for p in signers if p not in signed]


def sign_contract(
    contract: RevenueShareContract,
    private_key: str | bytes,
    *,
    chain_id: int,
    verifying_contract: str,
) -> str:
    """EIP-712 signature (0x hex) of one party over the contract."""
    data = contract_typed_data(contract, chain_id=chain_id, verifying_contract=verifying_contract)
    return sign_typed(data, private_key)


def recover_contract_signer(
    contract: RevenueShareContract, signature: str, *, chain_id: int, verifying_contract: str
) -> str | None:
    """Lower-case address behind ``signature``, or None when it cannot be recovered."""
    data = contract_typed_data(contract, chain_id=chain_id, verifying_contract=verifying_contract)
    return recover_typed(data, signature)


def verify_contract_signatures(
    contract: RevenueShareContract,
    signatures: Iterable[str],
    *,
    chain_id: int,
    verifying_contract: str,
    signers: Sequence[str] | None = None,
) -> list[str]:
    """Problems with a contract's signatures; empty when every required party signed.
    ``signers``: who must sign (default every party; under a template, the FSP and the user)."""
    recovered = [
        recover_contract_signer(
            contract, s, chain_id=chain_id, verifying_contract=verifying_contract
        )
        for s in signatures
    ]
    required = contract.signers() if signers is None else sorted(set(signers))
    return signature_problems(recovered, required, "of the contract")


def _split(total: int, weights: Sequence[int]) -> list[int]:
    weight_sum = sum(weights)
    if weight_sum == 0 or total == 0:
        return [0] * len(weights)
    shares = [total * w // weight_sum for w in weights]
    remainder = total - sum(shares)
    for i in range(len(weights)):
        if remainder == 0:
            break
        if weights[i]:
            shares[i] += 1
            remainder -= 1
    return shares


def revenue_obligations(
    *,
    session_id: str,
    fsp: str,
    fsp_revenue_units: int,
    contributions: Sequence[UserContribution],
    contracts: Mapping[str, RevenueShareContract],
    at_ts: int,
) -> list[Obligation]:
    """FSP → user / fleet operator / CPO / platform obligations for one FSP and session.

    ``contracts`` maps an EV user address to its contract with ``fsp``.
    """
    if fsp_revenue_units < 0:
        raise SettlementError(f"fsp_revenue_units: must be >= 0, got {fsp_revenue_units}")
    fsp = fsp.lower()
    mine = sorted(
        (c for c in contributions if c.fsp == fsp and c.session_id == session_id),
        key=lambda c: c.ev_user,
    )
    users = [c.ev_user for c in mine]
    if len(set(users)) != len(users):
        raise SettlementError(f"contributions: a user appears twice for {fsp} in {session_id}")
    shares = _split(fsp_revenue_units, [c.flex_wh for c in mine])
    out: list[Obligation] = []

    def owe(payee: str, amount: int, kind: str, reference: str) -> None:
        if amount > 0 and payee != ZERO_ADDRESS:
            out.append(
                Obligation(
                    payer=fsp,
                    payee=payee,
                    amount_units=amount,
                    kind=kind,
                    session_id=session_id,
                    reference=reference,
                )
            )

    for contribution, share in zip(mine, shares, strict=True):
        contract = contracts.get(contribution.ev_user)
        if contract is None or contract.fsp != fsp:
            raise SettlementError(
                f"contracts: no revenue-sharing contract between {fsp} and {contribution.ev_user}"
            )
        if not contract.active_at(at_ts):
            raise SettlementError(
                f"contracts[{contract.contract_id}]: not valid at {at_ts} "
                f"([{contract.valid_from}, {contract.valid_until}))"
            )
        if contract.user_incentive_mode == "percent":
            incentive = apply_ppm(share, contract.user_incentive_ppm)
        else:
            incentive = (
                contribution.shifted_wh * contract.user_incentive_per_kwh_shifted_units
                + contribution.discharged_wh * contract.user_incentive_per_kwh_discharged_units
            ) // 1000
        ref = contract.contract_id
        owe(contract.ev_user, incentive, "user_incentive", ref)
        owe(contract.fleet_operator, apply_ppm(share, contract.fleet_share_ppm), "fleet_share", ref)
        owe(
            contract.cpo,
            contribution.flex_wh * contract.cpo_fee_per_kwh_units // 1000,
            "cpo_fee",
            ref,
        )
        owe(contract.platform, apply_ppm(share, contract.platform_fee_ppm), "platform_fee", ref)
    return out
