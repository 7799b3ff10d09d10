"""Published bundles (terms, input, result, delivery): byte-exact files whose keccak256 is on-chain.

``uftp`` (only for a session with UFTP offers) holds their self-verifying Ed25519 proofs.

A bundle is published once: the bytes go to ``<bundle_dir>/<session_id>/<kind>.json`` (atomic
rename) and into the store. Publishing the same bytes again is a no-op; different bytes for a
published bundle are refused, because the chain may already hold the first hash.
The offer-commitment leaf lives in ``clearing.commitments`` (re-exported here).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from clearing.commitments import OFFER_LEAF_ENCODING, offer_leaf, offer_tree
from clearing.encoding import hex32, keccak256
from market.errors import Conflict, InvalidMessage, NotFound
from market.store import models as m

KINDS = ("terms", "input", "result", "delivery", "uftp", "readings", "netting")
__all__ = ["KINDS", "OFFER_LEAF_ENCODING", "BundleStore", "offer_leaf", "offer_tree"]


class BundleStore:
    """Publishes bundles to a directory and the store, and serves them back byte-exact."""

    def __init__(self, engine: Engine, directory: Path) -> None:
        self.engine = engine
        self.directory = Path(directory)

    def path(self, session_id: str, kind: str) -> Path:
        return self.directory / session_id / f"{kind}.json"

    def publish(self, session_id: str, kind: str, content: bytes) -> str:
        """Store ``content``; returns its keccak256 as 0x-hex."""
        if kind not in KINDS:
            raise InvalidMessage(f"must be one of {KINDS}", field="kind")
        digest = hex32(keccak256(content))
        with Session(self.engine) as db:
            existing = db.get(m.BundleRecord, (session_id, kind))
            if existing is not None and existing.keccak != digest:
                raise Conflict(
                    f"{kind} bundle of {session_id} already published with {existing.keccak}",
                    field="kind",
                )
            self._write_file(session_id, kind, content)
            if existing is None:
                db.add(
                    m.BundleRecord(session_id=session_id, kind=kind, keccak=digest, content=content)
                )
                db.commit()
        return digest

    def _write_file(self, session_id: str, kind: str, content: bytes) -> None:
        target = self.path(session_id, kind)
        if target.exists() and target.read_bytes() == content:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(content)
        os.replace(tmp, target)

    def get(self, session_id: str, kind: str) -> bytes:
        if kind not in KINDS:
            raise InvalidMessage(f"must be one of {KINDS}", field="kind")
        with Session(self.engine) as db:
            row = db.get(m.BundleRecord, (session_id, kind))
        if row is not None:
            return bytes(row.content)
        path = self.path(session_id, kind)
        if path.exists():
            return path.read_bytes()
        raise NotFound(f"no {kind} bundle published for session {session_id}", field="kind")

    def read_file(self, session_id: str, kind: str) -> bytes | None:
        """The published file only (reindex uses it after the store was dropped)."""
        path = self.path(session_id, kind)
        return path.read_bytes() if path.exists() else None
