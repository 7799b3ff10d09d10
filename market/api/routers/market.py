"""Market metadata (EIP-712 domain and types) and health."""

from __future__ import annotations

from fastapi import APIRouter, Request

from clearing.trust import EIP712_TYPES as TYPES
from market.api.deps import CoreDep
from market.api.routers.wallet import dev_wallet_available
from market.api.schemas import Health, MarketInfo

router = APIRouter(tags=["market"])


@router.get("/market", response_model=MarketInfo)
def market_info(core: CoreDep, request: Request) -> MarketInfo:
    """What a client needs to sign messages for this market."""
    s = request.app.state.settings
    return MarketInfo(
        chain_id=core.domain.chain_id,
        market_address=core.domain.verifying_contract,
        eip712_domain=core.domain.as_dict(),
        eip712_types=TYPES,
        siwe_domain=s.siwe_domain,
        siwe_uri=s.siwe_uri,
        max_message_ttl_s=core.max_message_ttl_s,
        development_wallet=dev_wallet_available(request),
    )


@router.get("/health", response_model=Health)
def health() -> Health:
    return Health(status="ok")
