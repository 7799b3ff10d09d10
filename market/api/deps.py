"""Shared FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from market.auth.siwe import TokenIssuer
from market.bundles import BundleStore
from market.core import MarketCore
from market.errors import Unauthenticated


async def get_core(request: Request) -> MarketCore:
    core: MarketCore = request.app.state.core
    return core


async def get_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


async def get_bundles(request: Request) -> BundleStore:
    bundles: BundleStore = request.app.state.bundles
    return bundles


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("expected 'Bearer <token>'", field="authorization")
    return token


async def optional_reader(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <SIWE session token>")] = None,
) -> str | None:
    """The address behind a SIWE bearer token, or None when no token is sent."""
    if authorization is None:
        return None
    core: MarketCore = request.app.state.core
    issuer: TokenIssuer = request.app.state.issuer
    return issuer.check_token(bearer_token(authorization), core.clock.now())


async def required_reader(reader: Annotated[str | None, Depends(optional_reader)]) -> str:
    if reader is None:
        raise Unauthenticated(
            "sign in with Ethereum first (POST /auth/siwe)", field="authorization"
        )
    return reader


CoreDep = Annotated[MarketCore, Depends(get_core)]
IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
BundlesDep = Annotated[BundleStore, Depends(get_bundles)]
ReaderDep = Annotated[str | None, Depends(optional_reader)]
SignedInDep = Annotated[str, Depends(required_reader)]
