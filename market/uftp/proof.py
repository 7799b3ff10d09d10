"""The proof of a UFTP offer: the AGR's Ed25519-signed FlexOffer and its key's market binding.

Why it travels with the market offer: the issue says each UFTP offer is committed under the
AGR's registered UFTP key, its signature kept in the bundle. The gateway attaches the proof to
the offer it submits, the market checks it (refusing a proof that does not prove the offer) and
publishes the proofs of a cleared session's offers as the ``uftp`` bundle beside input/result.
Anyone can re-check a proof from the chain id, the market address and the input bundle alone;
no secret is needed, so the bundle need not be hashed on-chain. Pure functions, no I/O.
"""

from __future__ import annotations

from base64 import b64decode
from binascii import Error as BinAsciiError
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from shapeshifter_uftp.transport import from_xml
from shapeshifter_uftp.uftp import FlexOffer as UftpOffer
from xsdata.exceptions import ParserError

from clearing.messages import FlexOffer, FlexRequest
from clearing.trust import canonical_json
from market.uftp.binding import binding_signer, check_public_key
from market.uftp.convert import ConvertError, Window, from_uftp_offer, message_uuid

SCHEME: Final = "uftp-ed25519"
MAX_SEALED_B64 = 64 * 1024  # a FlexOffer of 96 ISPs and a few options is a few kB
_DOMAIN = r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$"


class OfferProof(BaseModel):
    """What the gateway attaches to a market offer (``proof`` beside the signed envelope)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["uftp-ed25519"]
    sender_domain: Annotated[StrictStr, Field(pattern=_DOMAIN, max_length=253)]
    public_key: StrictStr  # base64 Ed25519 verify key of the AGR (32 bytes)
    binding_signature: Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]
    message_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    sealed_b64: Annotated[StrictStr, Field(min_length=1, max_length=MAX_SEALED_B64)]

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return check_public_key(v)

    @field_validator("sealed_b64")
    @classmethod
    def _sealed(cls, v: str) -> str:
        try:
            raw = b64decode(v, validate=True)
        except (BinAsciiError, ValueError) as exc:
            raise ValueError("not base64") from exc
        if len(raw) <= 64:
            raise ValueError("shorter than an Ed25519 signature and a message")
        return v


@dataclass(frozen=True)
class Refusal:
    """Why a proof does not prove an offer: the audit finding code, the field, the reason."""

    code: str
    field: str
    reason: str


def signed_offer(proof: OfferProof) -> UftpOffer | Refusal:
    """The UFTP FlexOffer the proof's key signed, or why it is not one."""
    try:
        opened = crypto_sign_open(b64decode(proof.sealed_b64), b64decode(proof.public_key))
    except (BadSignatureError, BinAsciiError, ValueError):
        return Refusal(
            "uftp.signature_invalid",
            "sealed_b64",
            "the Ed25519 signature does not verify with the bound key",
        )
    try:
        message = from_xml(opened)
    except (ParserError, ValueError, TypeError) as exc:
        return Refusal("uftp.signature_invalid", "sealed_b64", f"not UFTP: {exc}")
    if not isinstance(message, UftpOffer):
        return Refusal(
            "uftp.signature_invalid",
            "sealed_b64",
            f"the signed payload is a {type(message).__name__}, not a FlexOffer",
        )
    return message


def check_proof(
    proof: OfferProof,
    offer: FlexOffer,
    *,
    request: FlexRequest,
    window: Window,
    chain_id: int,
    market: str,
) -> Refusal | None:
    """None when ``proof`` proves ``offer``: the key is bound to ``offer.fsp`` on this market,
    the signature verifies, the ids derive from the signed message and ``offer`` is exactly
    its conversion (in ``window``, answering ``request``)."""
    try:
        signer = binding_signer(
            proof.binding_signature,
            chain_id=chain_id,
            market=market,
            domain=proof.sender_domain,
            role="AGR",
            public_key=proof.public_key,
        )
    except ValueError:
        signer = ""
    if signer != offer.fsp.lower():
        return Refusal(
            "uftp.binding_invalid",
            "binding_signature",
            f"the UFTP key is not bound to {offer.fsp} on this market",
        )
    signed = signed_offer(proof)
    if isinstance(signed, Refusal):
        return signed
    if (
        str(signed.message_id) != proof.message_id
        or str(signed.sender_domain) != proof.sender_domain
        or offer.offer_id != message_uuid(proof.sender_domain, proof.message_id, "offer")
    ):
        return Refusal(
            "uftp.offer_mismatch",
            "message_id",
            "the market offer id is not the one derived from the signed message",
        )
    try:
        expected = from_uftp_offer(signed, window=window, fsp=offer.fsp, request=request)
    except ConvertError as exc:
        return Refusal(
            "uftp.offer_mismatch", "sealed_b64", f"the signed offer does not convert: {exc}"
        )
    if expected != offer:
        return Refusal(
            "uftp.offer_mismatch",
            "sealed_b64",
            f"offer {offer.offer_id} is not the conversion of the signed UFTP offer",
        )
    return None


def time_zone_of(proof: OfferProof) -> str | None:
    """The UFTP time zone the AGR signed (None if the payload is no FlexOffer)."""
    signed = signed_offer(proof)
    return None if isinstance(signed, Refusal) else str(signed.time_zone)


# ---- the published ``uftp`` bundle ---------------------------------------------------------


class ProofItem(OfferProof):
    """One entry of the ``uftp`` bundle: the proof and the id of the offer it proves."""

    offer_id: Annotated[StrictStr, Field(min_length=1, max_length=36)]


class ProofsBundle(BaseModel):
    """``<bundle_dir>/<session>/uftp.json``: the proofs of a cleared session's UFTP offers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["uftp_offer_proofs"]
    session_id: StrictStr
    proofs: list[ProofItem]


def proofs_bundle(session_id: str, proofs: Iterable[tuple[str, OfferProof]]) -> bytes:
    """Canonical bytes of the ``uftp`` bundle (sorted by offer id, so rebuilding is exact)."""
    items = [
        {**proof.model_dump(mode="json"), "offer_id": offer_id}
        for offer_id, proof in sorted(proofs, key=lambda p: p[0])
    ]
    return canonical_json({"kind": "uftp_offer_proofs", "session_id": session_id, "proofs": items})
