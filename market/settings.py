"""All configuration of the market service in one place, read from ``FLEXMARKET_*`` env vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_SECRET_CHARS = 32


class SettingError(Exception):
    """A setting is missing or not allowed; ``setting`` is its environment variable."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class Settings(BaseSettings):
    """Service settings; every field can be set as ``FLEXMARKET_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FLEXMARKET_", extra="ignore")

    # "production" refuses every default secret and the embedded development chain.
    mode: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///build/flexmarket.db"
    rpc_url: str | None = None
    # Advertised in GET /deployment for participants (e.g. FSP gateways) without their own
    # node; unset: the field is null. Never this service's private node URL by default.
    public_rpc_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://")
    # Advertise the commitment relay in GET /deployment, so participant libraries post signed
    # commitments for the worker to batch (it relays whatever is posted either way; off:
    # participants commit on-chain themselves, one transaction each).
    relay_commitments: bool = False
    deployment_file: Path | None = None  # default: .flexmarket/deployment.json (deploy)
    chain_id: int | None = None
    market_address: str | None = None
    operator_key: str | None = None
    bundle_dir: Path = Path("build/bundles")
    role_cache_ttl_s: float = 5.0
    max_message_ttl_s: int = 24 * 3600
    siwe_domain: str = "flexmarket.local"
    siwe_uri: str = "http://flexmarket.local"
    session_token_ttl_s: int = 3600
    token_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    embed_worker: bool = False
    worker_poll_s: float = 1.0
    meter_grace_s: int = 900
    # Commit "the oracle attests only after the stations' CPOs sent their signed readings
    # digests" (POST /sessions/{id}/readings-digests) into each new session's terms.  On by
    # default: without it withheld readings are undetectable; false is for development only
    # (production mode refuses it).
    readings_digests_required: bool = True
    # intraday sessions a DSO may open itself (market/core/session_policy.py); off by default
    dso_sessions: bool = False
    dso_sessions_max_gate_before_delivery_s: int = Field(default=3600, ge=0)
    dso_sessions_min_gate_ahead_s: int = Field(default=60, ge=0)
    dso_sessions_max_delivery_s: int = Field(default=4 * 3600, gt=0)
    dso_sessions_max_start_ahead_s: int = Field(default=24 * 3600, gt=0)
    meter_clock_skew_s: int = 60  # a posted reading this far ahead of our clock is accepted
    worker_id: str | None = None
    clock: Literal["system", "chain"] = "system"  # "chain": latest block time (warped test chains)
    # Blocks on top before the indexer applies a block and before a sent transaction counts as
    # done (0 on anvil/hardhat, which never reorganise; a few on a public network).
    confirmations: int = Field(default=0, ge=0, le=1000)
    # Transactions: EIP-1559 fee caps in wei per gas (unset: no cap; a base fee above the cap
    # refuses to send), and after how long without a receipt a transaction is replaced (same
    # nonce, fees + 12.5 %). On PostgreSQL the nonces of each key are shared by every process.
    max_fee_per_gas_wei: int | None = Field(default=None, gt=0)
    max_priority_fee_per_gas_wei: int | None = Field(default=None, ge=0)
    tx_stuck_after_s: float = Field(default=30.0, gt=0)
    # Settlement: keys of the on-chain roles this process acts as (unset: that step waits),
    # and the SettlementRules fields as JSON (FLEXMARKET_SETTLEMENT_RULES='{"isp_s": 900}').
    oracle_key: str | None = None  # METER_ORACLE: attestDelivery
    arbiter_key: str | None = None  # ARBITER: resolve (flexmarket arbiter resolve)
    clearing_house_key: str | None = None  # CLEARING_HOUSE: settleNetting
    # Net every FINAL session on-chain (settleNetting). On by default: in development without
    # a clearing-house key the operator's key nets, if it holds CLEARING_HOUSE (the embedded
    # chain grants it); production needs FLEXMARKET_CLEARING_HOUSE_KEY or netting=false.
    netting: bool = True
    fee_recipient: str | None = None  # platform fees (default: the clearing-house address)
    settlement_rules: dict[str, Any] = {}
    # Request limits (market/api/limits.py, uvicorn options in `flexmarket serve`). The largest
    # legitimate body is dispute evidence (an FSP's signed readings of one session).
    max_request_body_bytes: int = 8 * 1024 * 1024  # larger bodies: 413 before being read
    max_json_depth: int = 64  # deeper JSON bodies: 400 before parsing
    max_request_head_bytes: int = 32 * 1024  # request line + headers; larger: 431
    request_head_timeout_s: float = 10.0  # a head still incomplete after this: closed
    limit_concurrency: int = 1024  # connections + tasks per process; beyond: 503
    timeout_keep_alive_s: int = 5  # idle keep-alive connections closed after this


def refuse_default_secrets(settings: Settings) -> None:
    """In production mode, every secret must be set explicitly and none may be a known one.

    Why: in development the service makes up what is missing (a random token secret, anvil's
    first dev key as operator, an embedded chain); in production any of these would be a
    hole, so the service refuses to start and names the setting instead.
    """
    if settings.mode != "production":
        return
    from adapters.chain.deploy import dev_private_keys

    secret = settings.token_secret or ""
    if len(secret) < MIN_TOKEN_SECRET_CHARS:
        raise SettingError(
            "FLEXMARKET_TOKEN_SECRET",
            f"production mode needs a secret of at least {MIN_TOKEN_SECRET_CHARS} characters "
            "shared by every API process (e.g. `openssl rand -hex 32`)",
        )
    if not settings.rpc_url:
        raise SettingError(
            "FLEXMARKET_RPC_URL",
            "production mode needs the market's chain named explicitly "
            "(the embedded chain is for development)",
        )
    if not settings.readings_digests_required:
        raise SettingError(
            "FLEXMARKET_READINGS_DIGESTS_REQUIRED",
            "production mode commits the CPOs' readings digests into every session's terms "
            "(without them withheld readings are undetectable); false is for development only",
        )
    known = {k.lower().removeprefix("0x") for k in dev_private_keys(20)}
    for name in ("operator_key", "oracle_key", "arbiter_key", "clearing_house_key"):
        key = getattr(settings, name)
        if name == "operator_key" and not key:
            raise SettingError(
                "FLEXMARKET_OPERATOR_KEY", "production mode needs the market operator's key"
            )
        if key and key.lower().removeprefix("0x") in known:
            raise SettingError(
                f"FLEXMARKET_{name.upper()}",
                "is a publicly known anvil development key; use a key of your own",
            )
    if settings.netting and not settings.clearing_house_key:
        raise SettingError(
            "FLEXMARKET_CLEARING_HOUSE_KEY",
            "production mode nets every session on-chain: set it to the key holding "
            "CLEARING_HOUSE, or turn netting off explicitly with FLEXMARKET_NETTING=false",
        )


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; tests override via env or arguments)."""
    return Settings()
