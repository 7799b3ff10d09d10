"""The public shape shared by the signed clearing messages (requests, prognoses, offers).

Their create models are the clearing messages themselves (``clearing.messages``); the store keeps
each body as canonical JSON text, so the bundles can be rebuilt byte-exact.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

B = TypeVar("B")


class MessagePublic(BaseModel, Generic[B]):
    """A stored signed message: its body, the keccak256 of the body and who submitted it."""

    body: B
    body_hash: str
    submitter: str


def message_public(body_json: str, *, body_hash: str, submitter: str) -> dict[str, Any]:
    """The public dict of a stored message (its body parsed from the canonical text)."""
    return {"body": json.loads(body_json), "body_hash": body_hash, "submitter": submitter}


def message_public_json(body_json: str, *, body_hash: str, submitter: str) -> str:
    """``message_public`` as JSON text, built around the stored body without re-encoding it."""
    return f'{{"body":{body_json},"body_hash":"{body_hash}","submitter":"{submitter}"}}'
