"""The shared body of every signed-write endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from market.core import MarketCore
from market.errors import InvalidMessage


def refuse_nul(value: Any, path: str = "") -> None:
    """No signed message needs a NUL character, and PostgreSQL text cannot store one."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidMessage("NUL characters are not allowed", field=path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, path)
            refuse_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(item, f"{path}[{index}]")


async def submit_signed(
    core: MarketCore, kind: str, request: Request, body: BaseModel | None = None
) -> Response:
    """Hand the raw envelope to the core (the signature covers the body exactly as sent)."""
    raw = await request.json()
    refuse_nul(raw)
    # In a worker thread: the store (and, for requests and role-cache misses, the chain) block.
    result = await run_in_threadpool(core.submit, kind, raw, body=body)
    headers = {"Idempotent-Replay": "true"} if result.replayed else None
    return Response(
        result.json_text, status_code=result.status, headers=headers, media_type="application/json"
    )


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Bad signature or expired message (problem+json)"},
    403: {"description": "Signer lacks the on-chain role (problem+json)"},
    409: {"description": "Wrong state, gate closed, or message id reused (problem+json)"},
    422: {"description": "Schema violation (problem+json)"},
}
