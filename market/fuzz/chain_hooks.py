"""The chain side of the money path for a fuzz run on a local anvil: escrow, commit, time.

Why hooks: a request is accepted only once its budget is escrowed on-chain, clearing needs the
FSPs' offer commitments, and gate closure needs time to pass; the API does none of these.
Every refusal by the chain is an expected outcome (False), never an error of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clearing.messages import FlexOffer, FlexRequest
from market.fuzz.money_path import MoneyPathHooks
from market.fuzz.tally import FuzzTally
from market.participant.onchain import ChainAccount


def chain_hooks(
    *,
    market: Any,
    addresses: Mapping[str, str],
    warp_by: Callable[[int], object],
    run_worker: Callable[[], object],
    tally: FuzzTally,
) -> MoneyPathHooks:
    """Hooks acting as ``addresses["dso"]`` and ``addresses["fsp"]`` on ``market``, and as
    ``addresses["cpo"]`` (when given) for the stations' keys."""

    dso = ChainAccount(market, None, addresses["dso"])
    fsp = ChainAccount(market, None, addresses["fsp"])
    cpo = ChainAccount(market, None, addresses["cpo"]) if "cpo" in addresses else None

    def escrow(body: dict[str, Any]) -> bool:
        try:
            dso.escrow_request(FlexRequest.model_validate(body))
        except Exception:
            return False
        return True

    def commit(session_id: str, bodies: list[dict[str, Any]]) -> bool:
        try:
            fsp.commit_offers(session_id, [FlexOffer.model_validate(b) for b in bodies])
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

    def station(station_id: str, meter_key: str) -> bool:
        if cpo is None:
            return False
        try:
            cpo.register_station(station_id, meter_key)
            cpo.grant_station(station_id, fsp.address)
        except Exception:
            return False
        return True

    return MoneyPathHooks(escrow=escrow, commit=commit, advance=advance, station=station)
