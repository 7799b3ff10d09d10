"""What both agents need: the session window they act on, deterministic message ids, and
the thin bridge to the market's signed client (sync or async methods both accepted)."""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from market.agents.fleet import Horizon

M = TypeVar("M", bound=BaseModel)

# Namespace for ids the agents derive, so a replayed agent re-sends the same ids (idempotent).
AGENT_NAMESPACE = uuid.UUID("5b0c1d1e-7a4f-4c35-9a4d-3f0f6c1f2a61")


@dataclass(frozen=True)
class MarketSession:
    """One market session as the agents see it: ``n_isps`` ISPs of ``isp_s`` seconds."""

    session_id: str
    start_unix: int
    n_isps: int
    gate_closure_unix: int
    isp_s: int = 900

    @property
    def horizon(self) -> Horizon:
        return Horizon(start_unix=self.start_unix, n_isps=self.n_isps, isp_s=self.isp_s)


def derived_id(*parts: object) -> str:
    """A UUID5 from the parts: same inputs, same id."""
    return str(uuid.uuid5(AGENT_NAMESPACE, "/".join(str(p) for p in parts)))


async def call(client: object, method: str, *args: object) -> Any:
    """Call ``client.method(*args)``, awaiting it if the client is asynchronous."""
    fn = getattr(client, method, None)
    if fn is None:
        raise AttributeError(f"client: has no method {method!r}")
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def as_message(model: type[M], row: M | dict[str, Any]) -> M:
    """A message model from a market read; public reads wrap it in ``{body, body_hash, ...}``."""
    if isinstance(row, model):
        return row
    data = dict(row)
    if isinstance(data.get("body"), dict):  # {"body": ..., "body_hash": ..., "submitter": ...}
        data = data["body"]
    return model.model_validate({k: v for k, v in data.items() if k in model.model_fields})
