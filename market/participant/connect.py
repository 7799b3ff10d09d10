"""A participant connected from the outside: the API URL, its key and (for transactions) an RPC.

Why the market address comes from the API: ``GET /market`` names the contract the API's EIP-712
domain is bound to, so the participant signs and transacts against the same deployment the
market serves, and a chain id that differs from the RPC's is refused before any transaction.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from adapters.chain.client import ChainClient
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.revert import ChainError
from adapters.chain.token import SettlementTokenContract
from adapters.chain.toolchain import ToolchainError, compile_contracts
from market.client import ApiError, MarketClient
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant


def _market_address(client: MarketClient, api_url: str) -> tuple[int, str]:
    try:
        info = client.market_info()
    except ApiError as exc:
        raise ParticipantError("api", f"{api_url}/market answered {exc}") from exc
    except httpx.HTTPError as exc:
        raise ParticipantError("api", f"{api_url} unreachable: {exc}") from exc
    return int(info["chain_id"]), str(info["market_address"])


def connect(
    api_url: str,
    private_key: str,
    *,
    rpc_url: str | None = None,
    timeout_s: float = 30.0,
) -> Participant:
    """A participant over ``api_url``; with ``rpc_url`` it can also transact.

    Messages are signed with the chain's time when an RPC is given (the market's clock is the
    chain's), else with this machine's.
    """
    try:
        key_client = MarketClient(api_url, private_key, timeout_s=timeout_s)
    except (ValueError, TypeError) as exc:
        raise ParticipantError("key", f"not a valid private key ({type(exc).__name__})") from exc
    chain_id, market_address = _market_address(key_client, api_url)
    if rpc_url is None:
        return Participant(key_client)
    try:
        chain = ChainClient(rpc_url, artifacts=compile_contracts())
        address = chain.add_account(private_key)
        if chain.chain_id != chain_id:
            raise ParticipantError(
                "rpc", f"{rpc_url} is chain {chain.chain_id}, the market is on chain {chain_id}"
            )
        market = FlexMarketContract(chain, market_address)
        token = SettlementTokenContract(chain, market.token())
    except (ChainError, ToolchainError) as exc:
        raise ParticipantError("rpc", str(exc)) from exc
    now: Callable[[], float] = lambda: float(chain.block_timestamp())  # noqa: E731
    client = MarketClient(api_url, private_key, timeout_s=timeout_s, now=now)
    key_client.close()
    return Participant(client, ChainAccount(market, token, address))
