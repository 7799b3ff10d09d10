"""A throwaway market for ``flexmarket bench fuzz``: anvil, the contracts, a SQLite store and
the API served by uvicorn on loopback, with an operator, a DSO and an FSP holding their roles.

Why its own harness: the fuzz run writes thousands of rows and moves chain time, so it must
never point at a market anyone uses. Everything lives in a temporary directory.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from eth_utils.crypto import keccak

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import deploy_market
from adapters.chain.toolchain import compile_contracts
from clearing.json_limits import restore_recursion_limit
from market.fuzz.chain_hooks import chain_hooks
from market.fuzz.money_path import MoneyPathHooks
from market.fuzz.tally import FuzzTally
from market.ledger import Ledger
from market.lifecycle.worker import Worker
from market.runtime import ChainClock, attach_settlement, build_runtime
from market.settings import Settings

ROLE_OF = {"operator": None, "dso": "DSO", "fsp": "FSP", "oracle": "METER_ORACLE"}
START_TIMEOUT_S = 15.0


@dataclass
class FuzzMarket:
    """A served market: its URL, a key per role, its clock and the chain hooks."""

    base_url: str
    keys: dict[str, str]
    clock: ChainClock
    hooks: MoneyPathHooks


@contextmanager
def served_market(tally: FuzzTally, database_url: str | None = None) -> Iterator[FuzzMarket]:
    """Start anvil, deploy, grant roles, serve the API; tear all of it down afterwards.

    ``database_url`` (default: a SQLite file in the temporary directory) must be a database
    nobody uses: the run fills it with fuzzed rows.
    """
    artifacts = compile_contracts()
    with tempfile.TemporaryDirectory() as tmp, AnvilNode(accounts=len(ROLE_OF) + 1) as node:
        keys = dict(zip(ROLE_OF, node.private_keys, strict=False))
        client = ChainClient(node.rpc_url, private_keys=node.private_keys, artifacts=artifacts)
        addresses = {name: client.add_account(key) for name, key in keys.items()}
        operator = addresses["operator"]
        contracts = deploy_market(client, deployer=operator)
        cpo = client.add_account(node.private_keys[len(ROLE_OF)])  # not a fuzzed identity
        contracts.market.register_participant(
            cpo, keccak(text="cpo"), [contracts.market.role("CPO")], sender=operator
        )
        for name, role in ROLE_OF.items():
            if role is not None:
                contracts.market.register_participant(
                    addresses[name],
                    keccak(text=name),
                    [contracts.market.role(role)],
                    sender=operator,
                )
        contracts.token.mint(addresses["dso"], 10**15, sender=operator)
        contracts.token.approve(contracts.market.address, 2**255, sender=addresses["dso"])
        ledger = Ledger(client, contracts.market, operator=operator)
        settings = Settings(
            database_url=database_url or f"sqlite:///{tmp}/fuzz.db",
            bundle_dir=Path(tmp) / "bundles",
            role_cache_ttl_s=0.0,
            token_secret="fuzz",
            oracle_key=keys["oracle"],
        )
        clock = ChainClock(ledger)
        runtime = build_runtime(settings, ledger=ledger, clock=clock)
        worker = Worker(
            engine=runtime.engine,
            ledger=ledger,
            bundles=runtime.bundles,
            clock=clock,
            meter_grace_s=60,
            # no CPO posts digests here: required, every session would stop BLOCKED at verify
            # and the fuzz would never reach dispute, finalize and withdraw (digests: own tests)
            readings_digests_required=False,
        )
        attach_settlement(worker, settings, ledger=ledger)  # verify delivery, pay out
        hooks = chain_hooks(
            market=contracts.market,
            addresses={**addresses, "cpo": cpo},
            warp_by=lambda s: node.warp_to(int(clock.now()) + s),
            run_worker=worker.run_once,
            tally=tally,
        )
        with _serving(runtime.app()) as base_url:
            restore_recursion_limit()
            yield FuzzMarket(base_url, keys, clock, hooks)
        runtime.engine.dispose()


@contextmanager
def _serving(app: object) -> Iterator[str]:
    """uvicorn on a free loopback port in a thread; yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {START_TIMEOUT_S} s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
