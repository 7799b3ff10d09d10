"""What a page needs to sign writes in the browser: the typed data, and a development wallet.

``POST /typed-data`` answers the EIP-712 JSON (with the summary a wallet shows) for an unsigned
envelope, so a page hands it to ``eth_signTypedData_v4`` (or ethers ``signTypedData``) without
re-implementing the summary; the service still checks everything again on the signed POST.

``GET /dev-wallet`` and ``POST /dev/rpc`` exist only for a development market on a local chain
(chain id 31337, not production mode): the well-known anvil keys, which guard nothing, and a
same-origin JSON-RPC relay so the page's Content-Security-Policy stays ``connect-src 'self'``.
In production both answer 404 and a page needs an EIP-1193 wallet; no key is ever served.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from clearing.messages import Address
from market.api.deps import CoreDep
from market.auth import eip712
from market.core import KINDS
from market.errors import ChainUnavailable, InvalidMessage, NotFound
from market.store.models.fields import MessageId

router = APIRouter(tags=["wallet"])

#: Signed kinds checked by the settlement routes rather than the market core.
OTHER_KINDS = ("revenue_contract", "user_contributions", "dispute_evidence", "readings_digests")

#: anvil's and Hardhat's local chain: the only chain whose dev keys this service hands out.
DEV_CHAIN_ID = 31337
DEV_ACCOUNTS = 10

#: What a page's development wallet may ask the chain: reads, fees and its own signed
#: transactions. No ``anvil_*`` / ``evm_*`` (a page cannot move time or mint balances).
RPC_METHODS = frozenset(
    {
        "eth_chainId",
        "net_version",
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getCode",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_sendRawTransaction",
    }
)


class UnsignedEnvelope(BaseModel):
    """The fields of an envelope before it is signed."""

    model_config = ConfigDict(extra="forbid")

    kind: Annotated[StrictStr, Field(max_length=32)]
    message_id: MessageId | None = Field(default=None, description="default: a new UUID")
    signer: Address
    expiry: Annotated[StrictInt, Field(ge=0, lt=2**64)] | None = Field(
        default=None, description="default: the market's clock + ttl_s"
    )
    ttl_s: Annotated[StrictInt, Field(ge=1)] = 600
    body: dict[str, Any]


class DevAccount(BaseModel):
    address: str
    private_key: str
    roles: list[str]


class DevWallet(BaseModel):
    """Development keys of a local chain and the relay to reach it from the page."""

    chain_id: int
    rpc_url: str
    accounts: list[DevAccount]


@router.post("/typed-data")
def typed_data(envelope: UnsignedEnvelope, core: CoreDep) -> dict[str, Any]:
    """The EIP-712 typed data to sign for this envelope (body checked against its kind)."""
    kind = KINDS.get(envelope.kind)
    if kind is None and envelope.kind not in OTHER_KINDS:
        raise InvalidMessage(f"unknown kind; one of {sorted([*KINDS, *OTHER_KINDS])}", field="kind")
    if kind is not None:
        try:
            kind.model.model_validate(envelope.body)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in ("body", *err["loc"]))
            raise InvalidMessage(err["msg"], field=path) from exc
    # The market's clock decides expiry (on a test chain it is the chain's, not the page's).
    expiry = envelope.expiry
    if expiry is None:
        expiry = int(core.clock.now()) + min(envelope.ttl_s, core.max_message_ttl_s)
    return eip712.typed_data(
        core.domain,
        kind=envelope.kind,
        message_id=envelope.message_id or eip712.new_message_id(),
        signer=envelope.signer,
        expiry=expiry,
        body=envelope.body,
        isp_s=core.offer_isp_s(envelope.body) if envelope.kind == "offer" else None,
    )


@lru_cache(maxsize=1)
def _dev_keys() -> tuple[str, ...]:
    from adapters.chain.anvil import DEFAULT_MNEMONIC, derive_private_keys

    return derive_private_keys(DEFAULT_MNEMONIC, DEV_ACCOUNTS)


def dev_wallet_available(request: Request) -> bool:
    """A development market on a local chain: not production mode, chain id 31337."""
    settings = request.app.state.settings
    ledger = getattr(request.app.state, "ledger", None)
    return settings.mode != "production" and ledger is not None and ledger.chain_id == DEV_CHAIN_ID


def _dev_rpc_url(request: Request) -> str:
    """The chain's RPC URL, when this is a development market on a local chain."""
    if not dev_wallet_available(request):
        raise NotFound(
            "no development wallet here (production mode, or not a local development chain): "
            "use an EIP-1193 browser wallet",
            field="mode",
        )
    return str(request.app.state.ledger.client.rpc_url)


@router.get("/dev-wallet", response_model=DevWallet, responses={404: {}})
def dev_wallet(request: Request, core: CoreDep) -> DevWallet:
    """The well-known local-chain keys with their on-chain roles (development only)."""
    _dev_rpc_url(request)
    accounts = []
    for key in _dev_keys():
        address = eip712.address_of(key)
        roles = sorted(core.roles.roles_of(address))
        accounts.append(DevAccount(address=address, private_key=key, roles=roles))
    return DevWallet(chain_id=DEV_CHAIN_ID, rpc_url="/dev/rpc", accounts=accounts)


RPC_ANSWER = {
    "description": "The chain's JSON-RPC answer (one, or a batch)",
    "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
}


@router.post("/dev/rpc", responses={200: RPC_ANSWER, 404: {}, 422: {}, 503: {}})
async def dev_rpc(request: Request) -> JSONResponse:
    """Relay JSON-RPC calls of the page's development wallet to the local chain."""
    url = _dev_rpc_url(request)
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        raise InvalidMessage("not JSON: a JSON-RPC call or a batch of them", field="body") from exc
    calls = payload if isinstance(payload, list) else [payload]
    for i, call in enumerate(calls):
        method = call.get("method") if isinstance(call, dict) else None
        if method not in RPC_METHODS:
            raise InvalidMessage(f"method {method!r} is not relayed", field=f"[{i}].method")
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(url, json=payload)
        return JSONResponse(answer.json(), status_code=answer.status_code)
    except (httpx.HTTPError, ValueError) as exc:
        raise ChainUnavailable(f"the local chain did not answer: {exc}", field="rpc") from exc
