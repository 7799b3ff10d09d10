"""Sign-In with Ethereum: fetch a one-time nonce, post the signed message, get a bearer token.

Failed sign-ins are throttled per claimed address and per client IP (429 with Retry-After);
``POST /auth/signout`` revokes the presented token; the operator lists recent failures.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from market.api.deps import CoreDep, IssuerDep, SignedInDep, bearer_token
from market.api.problems import problem
from market.api.schemas import Nonce, SiweRequest, SiweToken
from market.auth.sign_in_throttle import SignInThrottle
from market.auth.siwe import parse
from market.errors import FlexMarketError, Forbidden

router = APIRouter(prefix="/auth", tags=["auth"])


class SignInFailure(BaseModel):
    """Failed sign-ins of one key: ``address:0x…`` or ``ip:…``."""

    key: str
    failures: int
    last_failure_at: int
    blocked_for_s: float


class SignedOut(BaseModel):
    """The revoked session: whose it was and when it would have expired."""

    address: str
    expires_at: int


class SignInFailures(BaseModel):
    """Recent failed sign-ins in this API process, most failures first."""

    failures: list[SignInFailure]


async def get_throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


ThrottleDep = Annotated[SignInThrottle, Depends(get_throttle)]


def _claimed_address(message: str) -> str | None:
    try:
        return parse(message).address.lower()
    except FlexMarketError:
        return None


@router.get("/nonce", response_model=Nonce)
def nonce(core: CoreDep, issuer: IssuerDep) -> Nonce:
    """A one-time nonce, valid for ten minutes, to put in the SIWE message."""
    now = core.clock.now()
    return Nonce(nonce=issuer.new_nonce(now), now=int(now))


@router.post("/siwe", response_model=SiweToken, responses={401: {}, 422: {}, 429: {}})
def sign_in(
    request: Request,
    body: SiweRequest,
    core: CoreDep,
    issuer: IssuerDep,
    throttle: ThrottleDep,
) -> SiweToken | Response:
    """Exchange a signed SIWE message for a bearer token; each message works once."""
    ip = request.client.host if request.client else "unknown"
    address = _claimed_address(body.message)
    wait_s = throttle.retry_after_s(address, ip)
    if wait_s > 0:
        response = problem(
            429,
            "too-many-requests",
            "Too many failed sign-ins",
            f"too many failed sign-ins; retry in {math.ceil(wait_s)} s",
            instance=request.url.path,
            field="message.address" if address else None,
        )
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        return response
    try:
        token, signer, expiry = issuer.sign_in(body.message, body.signature, core.clock.now())
    except FlexMarketError as exc:
        if exc.status in (401, 422):
            throttle.failed(address, ip)
        raise
    throttle.succeeded(signer)
    return SiweToken(token=token, address=signer, expires_at=expiry)


@router.post("/signout", response_model=SignedOut, responses={401: {}})
def sign_out(request: Request, core: CoreDep, issuer: IssuerDep, _reader: SignedInDep) -> SignedOut:
    """Revoke the presented token: every API process refuses it from now on."""
    revoked = issuer.revoke(bearer_token(request.headers["authorization"]), core.clock.now())
    return SignedOut(address=revoked.address, expires_at=revoked.expires_at_s)


@router.get("/failures", response_model=SignInFailures, responses={401: {}, 403: {}})
def failures(core: CoreDep, reader: SignedInDep, throttle: ThrottleDep) -> SignInFailures:
    """Recent failed sign-ins by address and IP (market operator only)."""
    if not core.is_operator(reader):
        raise Forbidden("only the market operator sees failed sign-ins", field="authorization")
    return SignInFailures(
        failures=[
            SignInFailure(
                key=r.key,
                failures=r.failures,
                last_failure_at=int(r.last_failure_at_s),
                blocked_for_s=r.blocked_for_s,
            )
            for r in throttle.recent_failures()
        ]
    )
