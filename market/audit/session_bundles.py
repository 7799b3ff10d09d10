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
    input_bytes: bytes | None = None
    result_bytes: bytes | None = None
    delivery_bytes: bytes | None = None
    input: InputBundle | None = None
    result: ResultBundle | None = None
    delivery: dict[str, Any] | None = None
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
        if self.delivery_bytes is not None:
            try:
                loaded = json.loads(self.delivery_bytes)
                if not isinstance(loaded, dict) or not {"inputs", "report"} <= set(loaded):
                    raise ValueError("needs 'inputs' and 'report'")
                self.delivery = loaded
            except ValueError as exc:
                self.parse_errors["delivery"] = str(exc)


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']} ({exc.error_count()} error(s))"


def root_bytes(value: str) -> bytes:
    """A 0x-hex root from a bundle as 32 bytes (empty means the zero root)."""
    raw = bytes.fromhex(value.removeprefix("0x"))
    return raw if raw else bytes(32)


def short_hex(b: bytes) -> str:
    """A bytes32 shortened for a message."""
    return hex32(b)[:12] + ".."


def uuid32(value: str) -> bytes | None:
    """A UUID string as bytes32, None if it is not a UUID."""
    try:
        return uuid_to_bytes32(value)
    except ValueError:
        return None
