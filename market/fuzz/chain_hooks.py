"""The chain side of the money path for a fuzz run on a local anvil: escrow, commit, time.

Why hooks: a request is accepted only once its budget is escrowed on-chain, clearing needs the
FSPs' offer commitments, and gate closure needs time to pass; the API does none of these.
Every refusal by the chain is an expected outcome (False), never an error of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clearing.encoding import code_to_bytes32, uuid_to_bytes32
from clearing.messages import FlexOffer, FlexRequest
from market.client import offer_commitment
from market.fuzz.money_path import MoneyPathHooks
from market.fuzz.tally import FuzzTally


def chain_hooks(
    *,
    market: Any,
    addresses: Mapping[str, str],
    warp_by: Callable[[int], object],
    run_worker: Callable[[], object],
    tally: FuzzTally,
) -> MoneyPathHooks:
    """Hooks acting as ``addresses["dso"]`` and ``addresses["fsp"]`` on ``market``."""

    def escrow(body: dict[str, Any]) -> bool:
        try:
            request = FlexRequest.model_validate(body)
            market.post_request(
                uuid_to_bytes32(request.session_id),
                uuid_to_bytes32(request.request_id),
                code_to_bytes32(request.congestion_point),
                request.canonical_hash(),
                request.budget_units,
                sender=addresses["dso"],
            )
        except Exception:
            return False
        return True

    def commit(session_id: str, bodies: list[dict[str, Any]]) -> bool:
        try:
            root, count = offer_commitment([FlexOffer.model_validate(b) for b in bodies])
            market.commit_offers(uuid_to_bytes32(session_id), root, count, sender=addresses["fsp"])
        except Exception:
            return False
        return True

    def advance(seconds: int) -> None:
        if seconds:
            warp_by(seconds)
        try:
            run_worker()
        except Exception as exc:
            tally.crashed("worker.run_once", exc)

    return MoneyPathHooks(escrow=escrow, commit=commit, advance=advance)
