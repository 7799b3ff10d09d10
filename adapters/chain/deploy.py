"""Deploy the market contracts and record where they are, for every other command to read.

The deployment file is the hand-off between ``flexmarket deploy`` and the service, indexer,
auditor and agents: chain id, addresses, deploy block (where event scans start), the keccak of
each ABI (so a reader can tell its artifacts match) and the deployer.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from adapters.chain.anvil import DEFAULT_CHAIN_ID, DEFAULT_MNEMONIC, derive_private_keys
from adapters.chain.client import ChainClient, TxResult
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.nodes import chain_status, local_node
from adapters.chain.positions import FlexPositionsContract
from adapters.chain.revert import ChainError
from adapters.chain.token import SettlementTokenContract
from adapters.chain.toolchain import compile_contracts, project_root

DEPLOYMENT_VERSION = 1
CONTRACT_NAMES = ("SettlementToken", "FlexMarket", "FlexPositions")
#: The market's netting fee cap, in ppm of a session's paid amount: twice the 1 % platform fee
#: of the scenarios' revenue-sharing contracts, so an honest fee always fits.
DEFAULT_NETTING_FEE_CAP_PPM = 20_000


def default_deployment_path(root: Path | None = None) -> Path:
    return (root or project_root()) / ".flexmarket" / "deployment.json"


@dataclass(frozen=True)
class Deployment:
    """Where the market lives on one chain."""

    chain_id: int
    token: str
    market: str
    positions: str
    deploy_block: int
    deployer: str
    abi_hashes: dict[str, str]
    token_deployed: bool = True
    rpc_url: str | None = None
    deployed_at: int = 0
    gas: dict[str, int] = field(default_factory=dict)
    version: int = DEPLOYMENT_VERSION
    network: str | None = None  # the networks-file entry it was deployed with, if any

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deployment:
        missing = [
            k for k in ("chain_id", "token", "market", "positions", "deploy_block") if k not in data
        ]
        if missing:
            raise ValueError(f"deployment: missing field(s) {missing}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path | None = None) -> Path:
        path = path or default_deployment_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> Deployment:
        path = path or default_deployment_path()
        if not path.is_file():
            raise FileNotFoundError(f"deployment: {path} not found; run `flexmarket deploy`")
        return cls.from_dict(json.loads(path.read_text()))


@dataclass
class MarketContracts:
    """The three wrappers of one deployment, bound to one client."""

    client: ChainClient
    deployment: Deployment
    token: SettlementTokenContract
    market: FlexMarketContract
    positions: FlexPositionsContract

    @classmethod
    def attach(cls, client: ChainClient, deployment: Deployment) -> MarketContracts:
        """Bind wrappers to a deployment; refuses a chain id that does not match."""
        if client.chain_id != deployment.chain_id:
            raise ChainError(
                f"deployment: made for chain id {deployment.chain_id}, "
                f"but {client.rpc_url} is chain id {client.chain_id}"
            )
        return cls(
            client=client,
            deployment=deployment,
            token=SettlementTokenContract(client, deployment.token),
            market=FlexMarketContract(client, deployment.market),
            positions=FlexPositionsContract(client, deployment.positions),
        )


def abi_hash(abi: list[dict[str, Any]]) -> str:
    canonical = json.dumps(abi, sort_keys=True, separators=(",", ":"))
    return "0x" + keccak(text=canonical).hex()


def deploy_market(
    client: ChainClient,
    *,
    deployer: str,
    token_address: str | None = None,
    operator: str | None = None,
    netting_fee_cap_ppm: int = DEFAULT_NETTING_FEE_CAP_PPM,
) -> MarketContracts:
    """Deploy token (unless ``token_address``), market (which creates positions), wire roles.

    ``netting_fee_cap_ppm`` is fixed in the market for good: no netting fee can exceed that
    share of its session's paid amount (the contract refuses more than 100 000 ppm).

    Roles: the deployer is admin of the market and (for a new token) admin and minter of the
    token; the positions contract grants MARKET_ROLE to the market in its constructor;
    ``operator`` (default: the deployer) is registered as MARKET_OPERATOR.
    """
    artifacts = client.artifacts
    gas: dict[str, int] = {}
    first_block: int | None = None

    def track(name: str, result: TxResult) -> None:
        nonlocal first_block
        gas[name] = result.gas_used
        first_block = result.block_number if first_block is None else first_block

    if token_address is None:
        token_handle, result = client.deploy("SettlementToken", deployer, sender=deployer)
        token_address = token_handle.address
        track("SettlementToken", result)
    market_handle, result = client.deploy(
        "FlexMarket", token_address, deployer, netting_fee_cap_ppm, sender=deployer
    )
    track("FlexMarket", result)
    market = FlexMarketContract(client, market_handle.address)
    positions_address = market.positions()
    operator = operator or deployer
    track(
        "registerOperator",
        market.register_participant(
            operator,
            keccak(text="flexmarket:market-operator"),
            [market.role("MARKET_OPERATOR")],
            sender=deployer,
        ),
    )
    assert first_block is not None
    deployment = Deployment(
        chain_id=client.chain_id,
        token=token_handle.address if "SettlementToken" in gas else token_address,
        market=market.address,
        positions=positions_address,
        deploy_block=first_block,
        deployer=deployer,
        abi_hashes={name: abi_hash(artifacts[name].abi) for name in CONTRACT_NAMES},
        token_deployed="SettlementToken" in gas,
        rpc_url=client.rpc_url,
        deployed_at=int(time.time()),
        gas=gas,
    )
    return MarketContracts.attach(client, deployment)


# --- where commands find a chain --------------------------------------------------------------


def configured_rpc_url(rpc: str | None = None, root: Path | None = None) -> str | None:
    """``--rpc``, else ``$FLEXMARKET_RPC_URL``, else a running ``flexmarket chain up`` node."""
    if rpc:
        return rpc
    env = os.environ.get("FLEXMARKET_RPC_URL")
    if env:
        return env
    status = chain_status(root)
    return str(status["rpc_url"]) if status.get("running") else None


def dev_private_keys(count: int = 10) -> tuple[str, ...]:
    """anvil's well-known funded keys; for local chains only (chain id 31337)."""
    return derive_private_keys(DEFAULT_MNEMONIC, count)


def signing_keys_for(client: ChainClient) -> tuple[str, ...]:
    """``$FLEXMARKET_PRIVATE_KEYS`` (comma-separated), else the dev keys on a local chain."""
    env = os.environ.get("FLEXMARKET_PRIVATE_KEYS")
    if env:
        return tuple(k.strip() for k in env.split(",") if k.strip())
    if client.chain_id == DEFAULT_CHAIN_ID:
        return dev_private_keys()
    raise ChainError(
        f"chain id {client.chain_id} is not a local dev chain: set FLEXMARKET_PRIVATE_KEYS"
    )


@contextmanager
def connect(
    rpc: str | None = None, *, accounts: int = 10, node: str | None = None
) -> Iterator[tuple[ChainClient, bool]]:
    """A client for the configured chain, or for an embedded node started (and stopped) here.

    ``node`` (``anvil`` or ``hardhat``) asks for an embedded node of that implementation even
    when a chain is configured; it cannot be combined with an explicit ``rpc``.
    Yields ``(client, embedded)``.
    """
    if node is not None and rpc:
        raise ChainError("--node starts its own chain; it cannot be combined with --rpc")
    url = configured_rpc_url(rpc) if node is None else None
    if url is not None:
        client = ChainClient(url, artifacts=compile_contracts())
        for key in signing_keys_for(client):
            client.add_account(key)
        yield client, False
        return
    with local_node(node or "anvil", accounts=accounts) as started:
        client = ChainClient(
            started.rpc_url, private_keys=started.private_keys, artifacts=compile_contracts()
        )
        yield client, True
