"""Where bundles, the station registry and FSP receipts come from.

Folder layout (the same as the service's ``FLEXMARKET_BUNDLE_DIR``)::

    DIR/<session-uuid>/input.json      byte-exact published input bundle
    DIR/<session-uuid>/result.json     byte-exact published result bundle
    DIR/<session-uuid>/delivery.json   byte-exact published delivery bundle
    DIR/<session-uuid>/uftp.json       proofs of the session's UFTP offers (only if it had any)
    DIR/<session-uuid>/netting.json    what a netted session's settleNetting was computed from
    DIR/stations.json                  station registry (optional; see below)

HTTP (the market service's public endpoints): ``GET /sessions`` (to map on-chain ids to
session UUIDs), ``GET /sessions/{id}/bundles/{input|result|delivery|uftp|netting}`` and
``GET /assets`` (the station registry: ``station_id``, ``owner``, ``meter_public_key`` per asset).

Station registry (trust assumption): the chain holds no station keys, so the keys that meter
signatures are checked against come from the published asset registry (``stations.json`` or
``GET /assets``), or from ``--station-keys FILE`` when the auditor has them from another source
(the CPO or the meter manufacturer).  The auditor cross-checks that every metered connector in
a delivery bundle's portfolios is registered to the FSP that owns the portfolio, but it cannot
tell a registry that lies about a key from a real one; that is the trusted part.  Its format
is in market/audit/registry.py.

Dispute resolution: ``DIR/<session-uuid>/resolution.json`` or
``GET /sessions/{id}/disputes/resolution/bundle``: the arbiter's corrected delivery bundle.

Everything read here is untrusted: a bundle, registry or list larger than ``MAX_BUNDLE_BYTES``
(refused from its size, before it is read) or nested deeper than ``MAX_BUNDLE_DEPTH`` raises
:class:`UnsafeBundle` before any JSON parser sees it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Protocol

import httpx

from clearing.encoding import uuid_to_bytes32
from clearing.json_limits import JsonLimitError, check_json
from market.audit.findings import AuditCannotRun
from market.audit.registry import StationRegistry

KINDS = ("terms", "input", "result", "delivery", "resolution", "uftp", "readings", "netting")
MAX_BUNDLE_BYTES = 256 * 1024 * 1024  # a 1 000-EV day's delivery bundle is tens of MB
MAX_BUNDLE_DEPTH = 64  # canonical bundles nest < 10 deep


class UnsafeBundle(AuditCannotRun):
    """A bundle, registry or list refused before parsing: too deep or too large."""


def checked(data: bytes, where: str) -> bytes:
    """``data`` unchanged if it is within the size and depth limits, else UnsafeBundle."""
    try:
        check_json(data, max_depth=MAX_BUNDLE_DEPTH, max_bytes=MAX_BUNDLE_BYTES)
    except JsonLimitError as exc:
        raise UnsafeBundle(f"{where}: refused before parsing: {exc}") from exc
    return data


def parse(data: bytes, where: str) -> Any:
    """Bounded ``json.loads`` of untrusted bytes; malformed JSON is AuditCannotRun too."""
    try:
        return json.loads(checked(data, where))
    except ValueError as exc:
        raise AuditCannotRun(f"{where}: not JSON ({exc})") from exc


def read_bounded(path: Path) -> bytes:
    """A file's bytes, refused (UnsafeBundle) beyond the size or depth limits."""
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise UnsafeBundle(
            f"{path}: refused before reading: {size} bytes, more than {MAX_BUNDLE_BYTES}"
        )
    return checked(path.read_bytes(), str(path))


class BundleSource(Protocol):
    def describe(self) -> str: ...

    def session_ids(self) -> list[str]: ...

    def get(self, session_id: str, kind: str) -> bytes | None: ...

    def station_registry(self) -> StationRegistry | None: ...


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


class DirSource:
    """Bundles from a folder laid out as ``DIR/<session-uuid>/<kind>.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise AuditCannotRun(f"--bundles {root}: not a directory")

    def describe(self) -> str:
        return str(self.root)

    def session_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _is_uuid(p.name))

    def get(self, session_id: str, kind: str) -> bytes | None:
        path = self.root / session_id / f"{kind}.json"
        return read_bounded(path) if path.is_file() else None

    def station_registry(self) -> StationRegistry | None:
        path = self.root / "stations.json"
        if not path.is_file():
            return None
        return StationRegistry.from_json(parse(read_bounded(path), str(path)), str(path))


class HttpSource:
    """Bundles from the market service's public endpoints (httpx, bounded timeouts)."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def describe(self) -> str:
        return self.base_url

    def _get(self, path: str) -> tuple[int, bytes]:
        """Status and body; a body beyond MAX_BUNDLE_BYTES is refused while downloading."""
        where = f"{self.base_url}{path}"
        try:
            with self.http.stream("GET", path) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
                    raise UnsafeBundle(
                        f"{where}: refused before reading: {declared} bytes, "
                        f"more than {MAX_BUNDLE_BYTES}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BUNDLE_BYTES:
                        raise UnsafeBundle(
                            f"{where}: refused while reading: more than {MAX_BUNDLE_BYTES} bytes"
                        )
                return response.status_code, bytes(body)
        except httpx.HTTPError as exc:
            raise AuditCannotRun(f"bundle service {where} unreachable: {exc}") from exc

    def session_ids(self) -> list[str]:
        status, body = self._get("/sessions")
        if status != 200:
            return []
        sessions = parse(body, f"{self.base_url}/sessions")
        if not isinstance(sessions, list):
            raise AuditCannotRun(f"{self.base_url}/sessions: expected a list")
        return [str(s["id"]) for s in sessions if isinstance(s, dict) and "id" in s]

    def get(self, session_id: str, kind: str) -> bytes | None:
        path = (
            f"/sessions/{session_id}/disputes/resolution/bundle"
            if kind == "resolution"
            else f"/sessions/{session_id}/bundles/{kind}"
        )
        status, body = self._get(path)
        if status == 404:
            return None
        if status != 200:
            raise AuditCannotRun(f"bundle service: GET {path} answered {status}")
        return checked(body, f"{self.base_url}{path}")

    def station_registry(self) -> StationRegistry | None:
        status, body = self._get("/assets")
        if status != 200:
            return None
        where = f"{self.base_url}/assets"
        registry = StationRegistry.from_json(parse(body, where), where)
        return registry if registry.keys or registry.conflicts or registry.invalid else None


def open_source(spec: str) -> BundleSource:
    """``http(s)://...`` -> HttpSource, anything else -> DirSource."""
    if spec.startswith(("http://", "https://")):
        return HttpSource(spec)
    return DirSource(Path(spec))


def uuid_map(ids: list[str]) -> dict[bytes, str]:
    """On-chain session id (keccak256 of the UUID bytes) -> session UUID."""
    return {uuid_to_bytes32(i): i for i in ids if _is_uuid(i)}
