"""The gateway's own state (SQLite): messages received, what was sent, the AGRs' offers.

Why kept: a re-sent message (same sender and MessageID, same signed bytes) is answered as the
first time and changes nothing; the same MessageID with other contents is a duplicate. The
signed bytes of every accepted FlexOffer are the proof that the AGR (its Ed25519 key) made
the market offer the gateway committed for it, published per session as evidence.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
  sender TEXT NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL,
  result TEXT NOT NULL, reason TEXT, at REAL NOT NULL, PRIMARY KEY (sender, message_id));
CREATE TABLE IF NOT EXISTS sent (
  key TEXT PRIMARY KEY, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
  session_id TEXT NOT NULL, ref TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
  offer_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, fsp TEXT NOT NULL,
  sender TEXT NOT NULL, public_key TEXT NOT NULL, message_id TEXT NOT NULL,
  sealed BLOB NOT NULL, offer_json TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Seen:
    """An earlier message with the same sender and id: same bytes or not, and its outcome."""

    same: bool
    result: str
    reason: str | None


class Journal:
    """Thread-safe (the endpoint runs in a thread pool) SQLite journal."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def digest(sealed: bytes) -> str:
        return hashlib.sha256(sealed).hexdigest()

    # ---- received ----------------------------------------------------------------------------

    def seen(self, sender: str, message_id: str, sealed: bytes) -> Seen | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest, result, reason FROM received WHERE sender=? AND message_id=?",
                (sender, message_id),
            ).fetchone()
        if row is None:
            return None
        return Seen(same=row[0] == self.digest(sealed), result=row[1], reason=row[2])

    def received(
        self,
        sender: str,
        message_id: str,
        kind: str,
        sealed: bytes,
        result: str,
        reason: str | None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO received VALUES (?,?,?,?,?,?,?)",
                (sender, message_id, kind, self.digest(sealed), result, reason, time.time()),
            )

    # ---- sent --------------------------------------------------------------------------------

    def was_sent(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM sent WHERE key=?", (key,)).fetchone() is not None

    def sent(self, key: str, message_id: str, recipient: str, session_id: str, ref: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO sent VALUES (?,?,?,?,?,?)",
                (key, message_id, recipient, session_id, ref, time.time()),
            )

    def unsend(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sent WHERE key=?", (key,))

    def sent_by_message(self, message_id: str) -> tuple[str, str, str] | None:
        """(recipient, session id, ref) of a message the gateway sent."""
        with self._lock:
            row = self._db.execute(
                "SELECT recipient, session_id, ref FROM sent WHERE message_id=?", (message_id,)
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def refs(self, recipient: str, session_id: str, prefix: str) -> dict[str, str]:
        """ref -> message id of the records under ``prefix`` for a recipient and session."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ref, message_id FROM sent WHERE recipient=? AND session_id=? "
                "AND substr(key, 1, ?) = ?",
                (recipient, session_id, len(prefix), prefix),
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def sessions_sent_to(self, recipient: str) -> list[str]:
        """Sessions the gateway sent ``recipient`` anything about, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, MAX(rowid) FROM sent WHERE recipient=? "
                "GROUP BY session_id ORDER BY 2 DESC",
                (recipient,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # ---- offers ------------------------------------------------------------------------------

    def add_offer(
        self,
        *,
        offer: dict[str, Any],
        sender: str,
        public_key: str,
        message_id: str,
        sealed: bytes,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO offers VALUES (?,?,?,?,?,?,?,?)",
                (
                    offer["offer_id"],
                    offer["session_id"],
                    offer["fsp"],
                    sender,
                    public_key,
                    message_id,
                    sealed,
                    json.dumps(offer, sort_keys=True),
                ),
            )

    def offers(self, session_id: str, fsp: str | None = None) -> list[dict[str, Any]]:
        """Offers kept for a session (each with its UFTP proof), in arrival order."""
        q = (
            "SELECT offer_json, sender, public_key, message_id, sealed FROM offers"
            " WHERE session_id=?"
        )
        args: tuple[str, ...] = (session_id,)
        if fsp is not None:
            q += " AND fsp=?"
            args += (fsp,)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY rowid", args).fetchall()
        return [
            {
                "offer": json.loads(r[0]),
                "sender_domain": r[1],
                "public_key": r[2],
                "message_id": r[3],
                "sealed_b64": b64encode(r[4]).decode(),
            }
            for r in rows
        ]

    def offer_message(self, offer_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT message_id FROM offers WHERE offer_id=?", (offer_id,)
            ).fetchone()
        return None if row is None else str(row[0])
