"""Fixtures for the market service on a real anvil, over SQLite and (when configured) PostgreSQL.

PostgreSQL runs when FLEXMARKET_TEST_POSTGRES_URL is set (scripts/ci/start-postgres.sh prints
one); otherwise the postgresql parameter is skipped with that reason.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from eth_utils import keccak
from market_helpers import reset_postgres, worker_postgres_url

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import MarketContracts, deploy_market
from adapters.chain.nodes import local_node
from adapters.chain.toolchain import compile_contracts
from adapters.ports import free_port
from market.client import MarketClient
from market.ledger import Ledger
from market.runtime import ChainClock, Runtime, build_runtime
from market.settings import Settings

PG_ENV = "FLEXMARKET_TEST_POSTGRES_URL"
TEST_NODE = os.environ.get("FLEXMARKET_TEST_NODE", "anvil")  # or hardhat


@dataclass
class Chain:
    node: AnvilNode
    client: ChainClient
    contracts: MarketContracts
    keys: dict[str, str]
    addresses: dict[str, str]

    def role(self, name: str) -> bytes:
        return self.contracts.market.role(name)

    def warp_to(self, t: int) -> None:
        self.node.warp_to(t)


@pytest.fixture(scope="session")
def market_chain() -> Iterator[Chain]:
    """One anvil + deployment for the whole run; tests snapshot/revert around themselves."""
    with local_node(TEST_NODE, accounts=10) as node:
        yield deploy_on(node)


@pytest.fixture(scope="session")
def deploy_chain() -> Callable[[AnvilNode], Chain]:
    """The deployer behind ``market_chain``, for a module that overrides ``market_chain`` with
    another node (e.g. Hardhat) at its own scope."""
    return deploy_on


def deploy_on(node: AnvilNode) -> Chain:
    """Deploy the market on ``node`` and register and fund the test parties."""
    artifacts = compile_contracts()
    keys = dict(
        zip(
            ("operator", "dso", "fsp_a", "fsp_b", "oracle", "outsider", "dso2", "fsp_c", "cpo"),
            node.private_keys,
            strict=False,
        )
    )
    client = ChainClient(node.rpc_url, private_keys=keys.values(), artifacts=artifacts)
    addresses = {name: client.add_account(k) for name, k in keys.items()}
    op = addresses["operator"]
    contracts = deploy_market(client, deployer=op)
    market = contracts.market
    for name, role in (
        ("dso", "DSO"),
        ("dso2", "DSO"),
        ("fsp_a", "FSP"),
        ("fsp_b", "FSP"),
        ("fsp_c", "FSP"),
        ("oracle", "METER_ORACLE"),
        ("cpo", "CPO"),  # registers station keys and grants stations (FlexMarketStations)
    ):
        market.register_participant(
            addresses[name], keccak(text=name), [market.role(role)], sender=op
        )
    for dso in ("dso", "dso2"):
        contracts.token.mint(addresses[dso], 10**15, sender=op)
        contracts.token.approve(market.address, 2**255, sender=addresses[dso])
    return Chain(node, client, contracts, keys, addresses)


@pytest.fixture
def chain(market_chain: Chain) -> Iterator[Chain]:
    snap = market_chain.node.snapshot()
    try:
        yield market_chain
    finally:
        market_chain.node.revert(snap)
        market_chain.client.reset_nonces()  # reverted chain: nonces come from the node again


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/market.db"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set (scripts/ci/start-postgres.sh starts a server)")
    url = worker_postgres_url(url)
    reset_postgres(url)
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        bundle_dir=tmp_path / "bundles",
        role_cache_ttl_s=0.0,
        token_secret="test-secret",
    )


@pytest.fixture
def ledger(chain: Chain) -> Ledger:
    return Ledger(chain.client, chain.contracts.market, operator=chain.addresses["operator"])


@pytest.fixture
def runtime(settings: Settings, ledger: Ledger) -> Iterator[Runtime]:
    rt = build_runtime(settings, ledger=ledger, clock=ChainClock(ledger))
    yield rt
    rt.engine.dispose()


@pytest.fixture
def server(runtime: Runtime) -> Iterator[str]:
    """The API on a real loopback socket (uvicorn in a thread); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(runtime.app(), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 15 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def api(runtime: Runtime):
    """In-process ASGI client (used where a socket is not the point of the test)."""
    from starlette.testclient import TestClient

    with TestClient(runtime.app(), base_url="http://market.test") as tc:
        yield tc


@pytest.fixture
def clients(api, chain: Chain, runtime: Runtime):
    """``clients("fsp_a")`` → a MarketClient signing with that dev key, over ``api``."""

    def make(who: str) -> MarketClient:
        return MarketClient(
            "http://market.test", chain.keys[who], http_client=api, now=runtime.core.clock.now
        )

    return make
