"""``flexmarket replay SCENARIO --serve``: keep the chain and the market running after the
replay, so a new user can open the dashboards over a finished day.

Why a chain of its own: the replay stops the anvil it starts; to serve afterwards the chain
must outlive the replay, so this module starts the anvil (timestamped for the scenario, as the
replay would) and the replay runs against it with ``--rpc``. The served market reads the
replay's store and bundles; it writes nothing (no operator key, a fresh random token secret).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from adapters.chain.anvil import AnvilNode
from market.replay.chain import start_replay_anvil
from market.replay.scenario import Scenario
from market.runtime import Runtime, build_runtime
from market.settings import Settings


def start_anvil(scenario: Scenario, report_dir: Path) -> AnvilNode:
    """The replay's anvil (clock 2 h before the scenario's first gate closure), started here."""
    first_gate = min(scenario.at(s.gate_closure) for s in scenario.sessions)
    report_dir.mkdir(parents=True, exist_ok=True)
    return start_replay_anvil(first_gate, report_dir)


def finished_runtime(
    report_dir: Path, report: dict[str, Any], rpc_url: str, db_url: str | None = None
) -> Runtime:
    """The market over the replay's store, bundles and chain, read-only (no operator key)."""
    from adapters.chain.client import ChainClient
    from adapters.chain.market_contract import FlexMarketContract
    from adapters.chain.toolchain import compile_contracts
    from market.ledger import Ledger

    client = ChainClient(rpc_url, artifacts=compile_contracts())
    ledger = Ledger(client, FlexMarketContract(client, str(report["market_address"])))
    settings = Settings(
        database_url=db_url or f"sqlite:///{report_dir.resolve()}/market.db",
        bundle_dir=report_dir / "bundles",
        token_secret=secrets.token_hex(32),
        role_cache_ttl_s=60.0,
    )
    return build_runtime(settings, ledger=ledger)
