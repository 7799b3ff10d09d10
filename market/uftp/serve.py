"""``flexmarket uftp serve``: build the gateway from ``uftp.yaml`` and the environment, check
every peer's onboarding against the chain, then serve the endpoint and run the outbound pass.

Why keys from the environment: the market's UFTP signing key and each peer's market key are
secrets; the config only names the variables (``signing_key_env``, ``peers[].key_env``).
"""

from __future__ import annotations

import threading
from base64 import b64decode
from binascii import Error as BinAsciiError
from collections.abc import Mapping

import httpx
import uvicorn

from adapters.chain.client import ChainClient
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.revert import ChainError
from adapters.chain.toolchain import ToolchainError, compile_contracts
from market.client import ApiError, MarketClient
from market.uftp.config import UftpConfig, UftpConfigError
from market.uftp.context import GatewayContext, Log, json_log
from market.uftp.gateway import UftpGateway, create_app
from market.uftp.journal import Journal
from market.uftp.onboarding import check_peers


def _signing_key(cfg: UftpConfig, environ: Mapping[str, str]) -> str:
    key = environ.get(cfg.signing_key_env, "").strip()
    if not key:
        raise UftpConfigError(
            "signing_key_env", f"environment variable {cfg.signing_key_env} is not set"
        )
    try:
        raw = b64decode(key, validate=True)
    except (BinAsciiError, ValueError) as exc:
        raise UftpConfigError("signing_key_env", "the key is not base64") from exc
    if len(raw) != 64:
        raise UftpConfigError(
            "signing_key_env", f"an Ed25519 secret key is 64 bytes (seed + public), got {len(raw)}"
        )
    return key


def build_gateway(
    cfg: UftpConfig, environ: Mapping[str, str], *, log: Log = json_log
) -> UftpGateway:
    """The gateway, after its keys and every peer's binding and on-chain role are checked."""
    signing_key = _signing_key(cfg, environ)
    market_keys: dict[tuple[str, str], str] = {
        (p.domain, str(p.role)): environ[p.key_env].strip()
        for p in cfg.peers
        if environ.get(p.key_env, "").strip()
    }
    try:
        info = MarketClient(cfg.api_url).market_info()
    except (ApiError, httpx.HTTPError) as exc:
        raise UftpConfigError("api_url", f"{cfg.api_url}/market: {exc}") from exc
    try:
        chain = ChainClient(cfg.rpc_url, artifacts=compile_contracts())
        market = FlexMarketContract(chain, str(info["market_address"]))
        check_peers(
            cfg,
            chain_id=int(info["chain_id"]),
            market=str(info["market_address"]),
            market_keys=market_keys,
            has_role=lambda role, address: market.has_role(market.role(role), address),
        )
    except (ChainError, ToolchainError) as exc:
        raise UftpConfigError("rpc_url", str(exc)) from exc
    ctx = GatewayContext(
        cfg=cfg,
        signing_key=signing_key,
        market_keys=market_keys,
        journal=Journal(cfg.state_path),
        log=log,
    )
    return UftpGateway(ctx)


def serve(gateway: UftpGateway, *, host: str, port: int, poll_s: float) -> None:
    """Serve the endpoint; a daemon thread runs the outbound pass every ``poll_s``."""
    stop = threading.Event()

    def passes() -> None:
        while not stop.wait(poll_s):
            gateway.run_once()

    thread = threading.Thread(target=passes, name="uftp-pass", daemon=True)
    thread.start()
    try:
        uvicorn.run(create_app(gateway), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        gateway.ctx.journal.close()
