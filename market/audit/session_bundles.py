"""A session's published bundles, raw and parsed, and the small value helpers the checks share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from clearing.bundle import InputBundle, ResultBundle
from clearing.encoding import hex32, uuid_to_bytes32


@dataclass
class SessionBundles:
    """Raw and parsed bundles of one session (None where absent or unparseable)."""

    session_id: str | None
    terms_bytes: bytes | None = None  # the terms published at creation (optional)
    input_bytes: bytes | None = None
    result_bytes: bytes | None = None
    delivery_bytes: bytes | None = None
    resolution_bytes: bytes | None = None  # the arbiter's corrected delivery bundle
    input: InputBundle | None = None
    result: ResultBundle | None = None
    delivery: dict[str, Any] | None = None
    resolution: dict[str, Any] | None = None
    parse_errors: dict[str, str] = field(default_factory=dict)

    def parse(self) -> None:
        if self.input_bytes is not None:
            try:
                self.input = InputBundle.model_validate_json(self.input_bytes)
            except ValidationError as exc:
                self.parse_errors["input"] = _first_error(exc)
        if self.result_bytes is not None:
            try:
                self.result = ResultBundle.model_validate_json(self.result_bytes)
            except ValidationError as exc:
                self.parse_errors["result"] = _first_error(exc)
        for kind in ("delivery", "resolution"):
            raw = getattr(self, f"{kind}_bytes")
            if raw is not None:
                try:
                    setattr(self, kind, _delivery_shape(raw))
                except ValueError as exc:
                    self.parse_errors[kind] = str(exc)


DELIVERY_BUNDLE_KEYS = {"version", "kind", "inputs", "findings", "report"}


def _delivery_shape(raw: bytes) -> dict[str, Any]:
    """A delivery bundle's outer shape: an object with object ``inputs`` and ``report`` and
    no key a delivery bundle does not have."""
    loaded = json.loads(raw)
    if not isinstance(loaded, dict) or not {"inputs", "report"} <= set(loaded):
        raise ValueError("needs 'inputs' and 'report'")
    unknown = sorted(set(loaded) - DELIVERY_BUNDLE_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}")
    for key in ("inputs", "report"):
        if not isinstance(loaded[key], dict):
            raise ValueError(f"'{key}' is {type(loaded[key]).__name__}, not an object")
    return loaded


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']} ({exc.error_count()} error(s))"


def root_bytes(value: str) -> bytes:
    """A 0x-hex root from a bundle as 32 bytes (empty means the zero root; not hex or not 32
    bytes gives 32 0xff bytes, which no honest root is, so it differs from the chain's)."""
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return b"\xff" * 32
    if not raw:
        return bytes(32)
    return raw if len(raw) == 32 else b"\xff" * 32


def short_hex(b: bytes) -> str:
    """A bytes32 shortened for a message."""
    return hex32(b)[:12] + ".."


def uuid32(value: str) -> bytes | None:
    """A UUID string as bytes32, None if it is not a UUID."""
    try:
        return uuid_to_bytes32(value)
    except ValueError:
        return None
