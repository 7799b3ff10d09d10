"""Check: the UFTP offers of a session (``--uftp-evidence FILE``) are what the aggregators signed.

File: the UFTP gateway's ``GET /sessions/{id}/evidence``: ``{"session_id", "time_zone",
"items": [{"offer", "sender_domain", "public_key", "binding_signature", "message_id",
"sealed_b64"}]}``. For each item the auditor verifies, from the chain and the input bundle only:
the binding (an EIP-191 signature by the offer's FSP address, for this chain and contract, of the
UFTP domain and key), the Ed25519 signature of the UFTP FlexOffer, that the market offer id is
the one derived from that message, and that the offer in the input bundle (committed on-chain,
which check ``offers`` verifies) is exactly the conversion of the signed UFTP offer.
"""

from __future__ import annotations

import json
from base64 import b64decode
from binascii import Error as BinAsciiError
from pathlib import Path
from typing import Any

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from pydantic import BaseModel, ConfigDict, ValidationError
from shapeshifter_uftp.transport import from_xml
from shapeshifter_uftp.uftp import FlexOffer as UftpOffer
from xsdata.exceptions import ParserError

from clearing.bundle import InputBundle
from clearing.messages import FlexOffer
from market.audit.findings import AuditCannotRun, CheckResult
from market.uftp.binding import binding_signer
from market.uftp.convert import ConvertError, Window, from_uftp_offer, message_uuid


class EvidenceItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    offer: FlexOffer
    sender_domain: str
    public_key: str
    binding_signature: str
    message_id: str
    sealed_b64: str


class UftpEvidence(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: str
    time_zone: str
    items: list[EvidenceItem]


def load_uftp_evidence(path: Path) -> list[UftpEvidence]:
    """One evidence document or a list of them; unreadable or malformed is fatal (named)."""
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AuditCannotRun(f"--uftp-evidence {path}: {exc}") from exc
    docs = raw if isinstance(raw, list) else [raw]
    try:
        return [UftpEvidence.model_validate(d) for d in docs]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AuditCannotRun(f"--uftp-evidence {path}: {where}: {first['msg']}") from exc


def _signed_offer(item: EvidenceItem) -> UftpOffer | str:
    """The UFTP FlexOffer the AGR's key signed, or why it is not one."""
    try:
        opened = crypto_sign_open(b64decode(item.sealed_b64), b64decode(item.public_key))
    except (BadSignatureError, BinAsciiError, ValueError):
        return "the Ed25519 signature does not verify with the bound key"
    try:
        message = from_xml(opened)
    except (ParserError, ValueError, TypeError) as exc:
        return f"the signed payload is not UFTP: {exc}"
    if not isinstance(message, UftpOffer):
        return f"the signed payload is a {type(message).__name__}, not a FlexOffer"
    return message


def check_uftp_offers(
    bundle: InputBundle | None, evidence: list[UftpEvidence], *, chain_id: int, market: str
) -> CheckResult:
    res = CheckResult("uftp_offers")
    if bundle is None:
        return res.skip("no parsed input bundle")
    docs = [e for e in evidence if e.session_id == bundle.session_id]
    if not docs:
        return res.skip("no UFTP evidence for this session")
    in_bundle = {o.offer_id: o for o in bundle.offers}
    requests = {r.request_id: r for r in bundle.requests}
    checked = 0
    for doc in docs:
        window = Window(
            session_id=bundle.session_id,
            delivery_start=bundle.start_time,
            delivery_end=bundle.start_time + bundle.isp_count * bundle.isp_s,
            isp_s=bundle.isp_s,
            gate_closure=bundle.start_time,
            time_zone=doc.time_zone,
        )
        for item in doc.items:
            offer = item.offer
            subject = f"{item.sender_domain}/{item.message_id}"
            try:
                signer = binding_signer(
                    item.binding_signature,
                    chain_id=chain_id,
                    market=market,
                    domain=item.sender_domain,
                    role="AGR",
                    public_key=item.public_key,
                )
            except ValueError:
                signer = ""
            if signer != offer.fsp:
                res.add(
                    "uftp.binding_invalid",
                    f"the UFTP key is not bound to {offer.fsp} on this market",
                    subject,
                )
                continue
            signed = _signed_offer(item)
            if isinstance(signed, str):
                res.add("uftp.signature_invalid", signed, subject)
                continue
            if (
                signed.message_id != item.message_id
                or signed.sender_domain != item.sender_domain
                or offer.offer_id != message_uuid(item.sender_domain, item.message_id, "offer")
            ):
                res.add(
                    "uftp.offer_mismatch",
                    "the market offer id is not the one derived from the signed message",
                    subject,
                )
                continue
            request = requests.get(offer.request_id or "")
            held = in_bundle.get(offer.offer_id)
            if request is None or held is None:
                res.add(
                    "uftp.offer_missing",
                    f"offer {offer.offer_id} (or its request) is not in the input bundle",
                    subject,
                )
                continue
            try:
                expected = from_uftp_offer(signed, window=window, fsp=offer.fsp, request=request)
            except ConvertError as exc:
                res.add("uftp.offer_mismatch", f"the signed offer does not convert: {exc}", subject)
                continue
            if expected != held:
                res.add(
                    "uftp.offer_mismatch",
                    f"offer {offer.offer_id} in the input bundle is not the signed UFTP offer",
                    subject,
                )
                continue
            checked += 1
    res.notes.append(f"{checked} UFTP offer(s) verified against their Ed25519-signed messages")
    return res
