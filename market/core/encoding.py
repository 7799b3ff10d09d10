"""Canonical JSON of validated clearing messages on the write path's hot loop."""

from __future__ import annotations

import json

from pydantic import BaseModel


def fast_canonical(body: BaseModel) -> bytes:
    """Canonical JSON of a validated clearing message, via the C encoder.

    Equal to clearing.encoding.canonical_json for these models (no floats, ASCII field names,
    json's escaping is RFC 8785's); tests/unit/market/test_core_encoding.py checks it.
    """
    return json.dumps(
        body.model_dump(mode="python"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
