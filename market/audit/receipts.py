"""An FSP's receipts (``--receipts FILE``), read strictly: malformed items become named errors.

File: ``{"session_id", "fsp", "receipts": [{"offer_id", "root", "leaf_hash", "proof"}],
"offers": [FlexOffer bodies, optional]}`` or a list of such objects; ``receipts`` is what
``GET /sessions/{id}/receipts`` returns to the signed-in FSP.

Why per item: one malformed item must not hide the others; an item that names its session
is reported in that session's audit, one that does not in the market-wide ``inputs`` check.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from clearing.messages import FlexOffer
from market.audit.findings import AuditCannotRun, Finding
from market.audit.sources import read_bounded

Hex32 = Annotated[str, StringConstraints(strict=True, pattern=r"^0x[0-9a-fA-F]{64}$")]
Address = Annotated[str, StringConstraints(strict=True, pattern=r"^0x[0-9a-fA-F]{40}$")]
Text = Annotated[str, StringConstraints(strict=True, min_length=1)]


class OfferReceipt(BaseModel):
    """One inclusion proof of one committed offer (the service adds fields, e.g. ``included``:
    ignored; the ones read here are strictly typed)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    offer_id: Text
    root: Hex32
    leaf_hash: Hex32
    proof: list[Hex32] = []


class ReceiptsItem(BaseModel):
    """One FSP's receipts for one session."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: Text
    fsp: Address
    receipts: list[OfferReceipt]
    offers: list[FlexOffer] = []


@dataclass(frozen=True)
class Receipts:
    """A validated item: ``session_id`` is a canonical UUID, ``fsp`` lower-case."""

    session_id: str
    fsp: str
    receipts: list[OfferReceipt]
    offers: list[FlexOffer]


@dataclass(frozen=True)
class ReceiptsProblem:
    """A receipts item that cannot be read; ``session_id`` when it still names one."""

    finding: Finding
    session_id: str | None


def _canonical_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def load_receipts(path: Path) -> tuple[list[Receipts], list[ReceiptsProblem]]:
    """Valid items and one problem per malformed item (``receipts.malformed``).

    AuditCannotRun when the file cannot be read or parsed at all."""
    where = f"--receipts {path}"
    try:
        data = json.loads(read_bounded(Path(path)))
    except (OSError, ValueError) as exc:
        raise AuditCannotRun(f"{where}: cannot read ({exc})") from exc
    items = data if isinstance(data, list) else [data]
    good: list[Receipts] = []
    bad: list[ReceiptsProblem] = []
    for i, raw in enumerate(items):
        sid = _canonical_uuid(raw.get("session_id")) if isinstance(raw, dict) else None
        try:
            item = ReceiptsItem.model_validate(raw)
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(x) for x in e["loc"]) or "item"
            msg = f"{where}[{i}]: {loc}: {e['msg']} ({exc.error_count()} error(s))"
            bad.append(ReceiptsProblem(Finding("receipts.malformed", msg, f"[{i}]"), sid))
            continue
        if sid is None:
            msg = f"{where}[{i}]: session_id {item.session_id!r} is not a UUID"
            bad.append(ReceiptsProblem(Finding("receipts.malformed", msg, f"[{i}]"), None))
            continue
        good.append(Receipts(sid, item.fsp.lower(), list(item.receipts), list(item.offers)))
    return good, bad
