"""Check: the UFTP offers of a session are what the aggregators signed.

Sources: the session's published ``uftp`` bundle (``market.uftp.proof.ProofsBundle``; read by
default, absent for a session without UFTP offers) and, as an alternative, ``--uftp-evidence
FILE``: the UFTP gateway's ``GET /sessions/{id}/evidence``: ``{"session_id", "time_zone",
"items": [{"offer", "sender_domain", "public_key", "binding_signature", "message_id",
"sealed_b64"}]}``. For each item the auditor verifies, from the chain and the input bundle only:
the binding (an EIP-191 signature by the offer's FSP address, for this chain and contract, of the
UFTP domain and key), the Ed25519 signature of the UFTP FlexOffer, that the market offer id is
the one derived from that message, and that the offer in the input bundle (committed on-chain,
which check ``offers`` verifies) is exactly the conversion of the signed UFTP offer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from clearing.bundle import InputBundle
from clearing.messages import FlexOffer
from market.audit.findings import AuditCannotRun, CheckResult
from market.uftp.convert import Window
from market.uftp.proof import SCHEME, OfferProof, ProofsBundle, check_proof, time_zone_of


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


def _proofs_of(raw: bytes, session_id: str) -> list[tuple[str, OfferProof]] | str:
    """The ``uftp`` bundle's (offer id, proof) pairs, or why it cannot be read."""
    try:
        doc = ProofsBundle.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if doc.session_id != session_id:
        return f"names session {doc.session_id}"
    fields = set(OfferProof.model_fields)
    return [(p.offer_id, OfferProof(**{k: getattr(p, k) for k in fields})) for p in doc.proofs]


def check_uftp_offers(
    bundle: InputBundle | None,
    proofs_bytes: bytes | None = None,
    *,
    evidence: list[UftpEvidence],
    chain_id: int,
    market: str,
) -> CheckResult:
    """The session's ``uftp`` bundle (read by default) and any ``--uftp-evidence`` documents."""
    res = CheckResult("uftp_offers")
    if bundle is None:
        return res.skip("no parsed input bundle")
    # (offer id, proof, the UFTP time zone the source states, or None: the signed one)
    items: list[tuple[str, OfferProof, str | None]] = []
    read: list[tuple[str, OfferProof]] | str = []
    if proofs_bytes is not None:
        read = _proofs_of(proofs_bytes, bundle.session_id)
        if isinstance(read, str):
            res.error(f"the uftp bundle is malformed: {read}", "uftp.proofs_malformed")
        else:
            items += [(offer_id, proof, None) for offer_id, proof in read]
    for doc in (e for e in evidence if e.session_id == bundle.session_id):
        for item in doc.items:
            proof = OfferProof(
                scheme=SCHEME,
                sender_domain=item.sender_domain,
                public_key=item.public_key,
                binding_signature=item.binding_signature,
                message_id=item.message_id,
                sealed_b64=item.sealed_b64,
            )
            items.append((item.offer.offer_id, proof, doc.time_zone))
    if not items and not isinstance(read, str):
        return res.skip("no UFTP offers in this session")
    in_bundle = {o.offer_id: o for o in bundle.offers}
    requests = {r.request_id: r for r in bundle.requests}
    checked = 0
    seen: set[tuple[str, OfferProof]] = set()  # the same proof from both sources: once
    for offer_id, proof, time_zone in items:
        if (offer_id, proof) in seen:
            continue
        seen.add((offer_id, proof))
        subject = f"{proof.sender_domain}/{proof.message_id}"
        held = in_bundle.get(offer_id)
        request = requests.get(held.request_id or "") if held is not None else None
        if held is None or request is None:
            res.add(
                "uftp.offer_missing",
                f"offer {offer_id} (or its request) is not in the input bundle",
                subject,
            )
            continue
        window = Window(
            session_id=bundle.session_id,
            delivery_start=bundle.start_time,
            delivery_end=bundle.start_time + bundle.isp_count * bundle.isp_s,
            isp_s=bundle.isp_s,
            gate_closure=bundle.start_time,
            time_zone=time_zone or time_zone_of(proof) or "UTC",
        )
        refused = check_proof(
            proof, held, request=request, window=window, chain_id=chain_id, market=market
        )
        if refused is not None:
            res.add(refused.code, refused.reason, subject)
            continue
        checked += 1
    res.notes.append(f"{checked} UFTP offer(s) verified against their Ed25519-signed messages")
    return res
