"""Station passwords for security profiles 1 and 2: salted scrypt records, and their file.

Why: a leaked credentials file must not hand out station passwords. Each record keeps its own
random salt and its scrypt cost parameters (so the cost can be raised for new entries without
breaking old ones); a login hashes the offered password with that record's salt and
parameters and compares in constant time. Unknown stations are compared against a dummy
record, so a refusal takes as long whether the station exists or not.

The file is JSON (or YAML for ``.yaml``/``.yml``): ``{"stations": {station_id: record}}``,
written atomically with mode 0600. Passwords never travel in argv: ``flexmarket csms
credentials add`` reads them from stdin or a prompt.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ALGORITHM = "scrypt"
SALT_BYTES = 16
HASH_BYTES = 32


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters; memory used is ``128 * n * r`` bytes (16 MiB for the default)."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def maxmem_bytes(self) -> int:
        return 128 * self.n * self.r * (self.p + 1) + (1 << 20)


FILE_COST = ScryptCost()
"""For records at rest (the credentials file): ~50 ms per hash, 16 MiB."""
IN_MEMORY_COST = ScryptCost(n=2**10, r=8, p=1)
"""For passwords handed to :class:`Csms` in plain text (tests, replays, the bench): the
plain text is already in this process, so a slow hash would protect nothing and only
slow 1 000-station connects down; the records are still salted."""


@dataclass(frozen=True)
class PasswordRecord:
    """One station's salted scrypt hash and the parameters that made it."""

    salt_b64: str
    hash_b64: str
    n: int
    r: int
    p: int
    algorithm: str = ALGORITHM

    @classmethod
    def create(cls, password: str, cost: ScryptCost = FILE_COST) -> PasswordRecord:
        if not password:
            raise ValueError("password: empty")
        salt = secrets.token_bytes(SALT_BYTES)
        digest = _scrypt(password, salt, cost)
        return cls(
            salt_b64=base64.b64encode(salt).decode(),
            hash_b64=base64.b64encode(digest).decode(),
            n=cost.n,
            r=cost.r,
            p=cost.p,
        )

    @classmethod
    def from_json(cls, station_id: str, raw: Any) -> PasswordRecord:
        """A record read from a file; names the station and the field that is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"stations.{station_id}: expected an object")
        missing = {"salt_b64", "hash_b64", "n", "r", "p"} - set(raw)
        if missing:
            raise ValueError(f"stations.{station_id}: missing {sorted(missing)}")
        if raw.get("algorithm", ALGORITHM) != ALGORITHM:
            raise ValueError(f"stations.{station_id}.algorithm: only {ALGORITHM!r} is supported")
        for field in ("n", "r", "p"):
            if not isinstance(raw[field], int) or raw[field] < 1:
                raise ValueError(f"stations.{station_id}.{field}: a positive integer")
        try:
            base64.b64decode(raw["salt_b64"], validate=True)
            base64.b64decode(raw["hash_b64"], validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"stations.{station_id}: salt_b64/hash_b64 not base64") from exc
        return cls(**{k: raw[k] for k in ("salt_b64", "hash_b64", "n", "r", "p")})

    def matches(self, password: str) -> bool:
        """Hash ``password`` with this record's salt and cost; constant-time compare."""
        cost = ScryptCost(self.n, self.r, self.p)
        offered = _scrypt(password, base64.b64decode(self.salt_b64), cost)
        return hmac.compare_digest(offered, base64.b64decode(self.hash_b64))


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        maxmem=cost.maxmem_bytes,
        dklen=HASH_BYTES,
    )


_DUMMY = PasswordRecord.create(secrets.token_hex(16), IN_MEMORY_COST)


class StationCredentials:
    """Station id → :class:`PasswordRecord`; :meth:`check` is what the handshake asks."""

    def __init__(self, records: Mapping[str, PasswordRecord] | None = None) -> None:
        self.records: dict[str, PasswordRecord] = dict(records or {})

    @classmethod
    def from_passwords(
        cls, passwords: Mapping[str, str], cost: ScryptCost = IN_MEMORY_COST
    ) -> StationCredentials:
        return cls({sid: PasswordRecord.create(pw, cost) for sid, pw in passwords.items()})

    def __contains__(self, station_id: object) -> bool:
        return station_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def set_password(self, station_id: str, password: str, cost: ScryptCost = FILE_COST) -> None:
        self.records[station_id] = PasswordRecord.create(password, cost)

    def check(self, station_id: str, password: str) -> bool:
        """True for a known station and its password; the same work for unknown ones."""
        record = self.records.get(station_id)
        if record is None:
            _DUMMY.matches(password)
            return False
        return record.matches(password)

    # ------------------------------------------------------------------ the file
    @classmethod
    def load(cls, path: Path) -> StationCredentials:
        text = path.read_text()
        raw = yaml.safe_load(text) if _is_yaml(path) else json.loads(text) if text.strip() else {}
        raw = raw or {}
        if not isinstance(raw, Mapping) or not isinstance(raw.get("stations", {}), Mapping):
            raise ValueError(f"{path}: expected {{'stations': {{station_id: record}}}}")
        stations: Mapping[str, Any] = raw.get("stations", {})
        return cls(
            {str(sid): PasswordRecord.from_json(str(sid), rec) for sid, rec in stations.items()}
        )

    def save(self, path: Path) -> None:
        """Write atomically, readable by the owner only (0600)."""
        body = {"stations": {sid: asdict(rec) for sid, rec in sorted(self.records.items())}}
        text = (
            yaml.safe_dump(body, sort_keys=True) if _is_yaml(path) else json.dumps(body, indent=2)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", text=True)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text + "\n")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")
