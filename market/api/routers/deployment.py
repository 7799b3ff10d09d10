"""Where the market lives: chain id, contract addresses, deploy block and ABIs, for anyone.

A participant joining a running market needs these to talk to the chain itself (escrow,
commit offers, withdraw); before this route they had to be handed the operator's
``deployment.json``. Everything here is read from the chain the service is attached to (the
market contract names its token, positions and deploy block), so it cannot drift from it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from market.errors import ChainUnavailable, NotFound

router = APIRouter(tags=["market"])

CONTRACTS = ("FlexMarket", "SettlementToken", "FlexPositions")


class DeploymentInfo(BaseModel):
    """The market's deployment; ``abis`` maps each contract name to its ABI route."""

    chain_id: int
    market: str
    token: str
    positions: str
    deploy_block: int
    abi_hashes: dict[str, str]
    abis: dict[str, str]
    public_rpc_url: str | None = None  # FLEXMARKET_PUBLIC_RPC_URL: a node anyone may use
    # POST /sessions/{id}/commitments is served and the worker relays (FLEXMARKET_RELAY_COMMITMENTS)
    commitment_relay: bool = False
    # the clearing house nets FINAL sessions (FLEXMARKET_NETTING, with a CLEARING_HOUSE sender):
    # FSP gateways then name the session's DSOs as payees and withdraw only after the netting
    netting: bool = False


def _deployment(request: Request) -> tuple[DeploymentInfo, dict[str, list[dict[str, Any]]]]:
    """Read once per process from the chain (addresses and deploy block never change)."""
    cached = getattr(request.app.state, "deployment", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from adapters.chain.deploy import abi_hash
    from market.runtime import nets

    ledger = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise ChainUnavailable("this service has no chain attached", field="settings.rpc_url")
    market = ledger.market
    settings = getattr(request.app.state, "settings", None)
    abis = {name: ledger.client.artifacts[name].abi for name in CONTRACTS}
    info = DeploymentInfo(
        chain_id=ledger.chain_id,
        market=market.address,
        token=str(market.contract.call("token")),
        positions=str(market.contract.call("positions")),
        deploy_block=market.deploy_block,
        abi_hashes={name: abi_hash(abi) for name, abi in abis.items()},
        abis={name: f"/deployment/abi/{name}" for name in CONTRACTS},
        public_rpc_url=getattr(
            getattr(request.app.state, "settings", None), "public_rpc_url", None
        ),
        commitment_relay=bool(
            getattr(getattr(request.app.state, "settings", None), "relay_commitments", False)
        ),
        netting=settings is not None and nets(settings, ledger),
    )
    request.app.state.deployment = (info, abis)
    return info, abis


@router.get("/deployment", response_model=DeploymentInfo, responses={503: {}})
def deployment(request: Request) -> DeploymentInfo:
    """Chain id, contract addresses, deploy block (where event scans start), ABI hashes and
    the public RPC URL the operator advertises (``FLEXMARKET_PUBLIC_RPC_URL``; else null)."""
    return _deployment(request)[0]


@router.get("/deployment/abi/{contract}", response_model=list[dict[str, Any]], responses={404: {}})
def contract_abi(contract: str, request: Request) -> list[dict[str, Any]]:
    """The ABI of one contract (FlexMarket, SettlementToken or FlexPositions)."""
    abis = _deployment(request)[1]
    if contract not in abis:
        known = ", ".join(CONTRACTS)
        raise NotFound(f"no contract {contract!r} (known: {known})", field="contract")
    return abis[contract]
