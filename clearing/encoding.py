"""Canonical encoding and hashing shared by every component that hashes, signs or anchors data.

The canonical form follows RFC 8785 (JSON Canonicalization Scheme) restricted to the value types
we allow across trust boundaries: ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``,
``bool`` and ``None``.  Floats are refused outright (no float crosses a hashed boundary), which
also removes the one part of RFC 8785 that is hard to reproduce (number serialisation).
Integers are written as plain decimal digits with no size limit (token amounts may exceed 2**53).
Keys are sorted by their UTF-16 code units, as RFC 8785 requires; strings are escaped as
ECMAScript ``JSON.stringify`` does and emitted as UTF-8.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from eth_utils import keccak as _keccak  # type: ignore[attr-defined]

__all__ = [
    "CanonicalEncodingError",
    "canonical_json",
    "code_to_bytes32",
    "hex32",
    "keccak256",
    "uuid_to_bytes32",
]


class CanonicalEncodingError(ValueError):
    """A value cannot be canonically encoded; the message names the path (e.g. ``$.a[2].b``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _encode_str(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalEncodingError(path, "string is not valid Unicode (lone surrogate)") from exc
    # ensure_ascii=False escapes exactly '"', '\\' and C0 controls (short forms + \u00xx lowercase),
    # which is what RFC 8785 / ECMAScript JSON.stringify produce.
    return json.dumps(value, ensure_ascii=False)


def _encode(value: Any, path: str, out: list[str]) -> None:
    # bool before int: bool is a subclass of int in Python.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_encode_str(value, path))
    elif isinstance(value, float):
        raise CanonicalEncodingError(path, "floats are not allowed; use integer units")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalEncodingError(path, f"object key {key!r} is not a string")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(_encode_str(key, f"{path}.{key}"))
            out.append(":")
            _encode(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise CanonicalEncodingError(path, f"type {type(value).__name__} is not allowed")


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """True when ``value`` holds only exact dict/list/tuple/str/int/bool/None with ASCII keys,
    i.e. when ``json.dumps(sort_keys=True)`` already yields the RFC 8785 form."""
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) not in _SCALARS and not _plain(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        return all(type(item) in _SCALARS or _plain(item) for item in value)
    return type(value) in _SCALARS


def canonical_json(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON bytes of ``obj`` (sorted keys, no whitespace, no floats).

    Fast path: the stdlib encoder once the value is known to contain nothing it would treat
    differently (floats, non-string or non-ASCII keys, subclasses); otherwise - and to name the
    path of an offending value - the explicit encoder below.
    """
    if _plain(obj):
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogate: the slow path reports where
    out: list[str] = []
    _encode(obj, "$", out)
    return "".join(out).encode("utf-8")


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (not NIST SHA3-256)."""
    return bytes(_keccak(data))


def uuid_to_bytes32(u: str | uuid.UUID) -> bytes:
    """On-chain id of an off-chain UUID: keccak256 of its 16 raw bytes."""
    value = u if isinstance(u, uuid.UUID) else uuid.UUID(u)
    return keccak256(value.bytes)


def code_to_bytes32(code: str) -> bytes:
    """On-chain id of an EAN / congestion-point code: keccak256 of its UTF-8 bytes."""
    return keccak256(code.encode("utf-8"))


def hex32(b: bytes) -> str:
    """``0x``-prefixed lowercase hex of a byte string (usually 32 bytes)."""
    return "0x" + bytes(b).hex()
