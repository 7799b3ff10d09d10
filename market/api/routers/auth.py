"""Sign-In with Ethereum: fetch a nonce, post the signed message, get a bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from market.api.deps import CoreDep, IssuerDep
from market.api.schemas import Nonce, SiweRequest, SiweToken

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/nonce", response_model=Nonce)
def nonce(core: CoreDep, issuer: IssuerDep) -> Nonce:
    return Nonce(nonce=issuer.new_nonce(core.clock.now()))


@router.post("/siwe", response_model=SiweToken, responses={401: {}, 422: {}})
def sign_in(body: SiweRequest, core: CoreDep, issuer: IssuerDep) -> SiweToken:
    token, address, expiry = issuer.sign_in(body.message, body.signature, core.clock.now())
    return SiweToken(token=token, address=address, expires_at=expiry)
