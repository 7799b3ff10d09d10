"""Canonical JSON of validated clearing messages on the write path's hot loop."""

from __future__ import annotations

from pydantic import BaseModel

from clearing.trust import canonical_json


def fast_canonical(body: BaseModel) -> bytes:
    """Canonical JSON of a validated clearing message (strict schema: the C-encoder fast path)."""
    return canonical_json(body.model_dump(mode="python"), schema_checked=True)
