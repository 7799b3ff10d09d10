"""A throwaway market for ``flexmarket serve`` with nothing configured: anvil, deployment, SQLite.

Why: a newcomer's first ``flexmarket serve`` should answer on a URL, as ``replay`` does, not
stop on a missing chain. Everything lives in a temporary folder and goes when the command
ends; naming a chain (``FLEXMARKET_RPC_URL`` or ``flexmarket chain up``) keeps state instead.
Production mode never gets here (``settings.refuse_default_secrets``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import Deployment, deploy_market
from adapters.chain.toolchain import compile_contracts


@dataclass(frozen=True)
class EmbeddedMarket:
    """Where the embedded market lives, as the ``FLEXMARKET_*`` settings that point at it."""

    rpc_url: str
    deployment: Deployment
    deployment_file: Path
    operator_key: str
    operator: str
    database_url: str | None
    bundle_dir: Path | None

    def environment(self) -> dict[str, str]:
        """The settings every server process needs to attach to this market."""
        env = {
            "FLEXMARKET_RPC_URL": self.rpc_url,
            "FLEXMARKET_DEPLOYMENT_FILE": str(self.deployment_file),
            "FLEXMARKET_OPERATOR_KEY": self.operator_key,
        }
        if self.database_url is not None:
            env["FLEXMARKET_DATABASE_URL"] = self.database_url
        if self.bundle_dir is not None:
            env["FLEXMARKET_BUNDLE_DIR"] = str(self.bundle_dir)
        return env


@contextmanager
def embedded_market(*, own_store: bool = True) -> Iterator[EmbeddedMarket]:
    """Start anvil, deploy with its first dev key as operator, admin and clearing house;
    stop it on exit.

    ``own_store``: a fresh SQLite file and bundle folder next to the chain (a store that
    remembers sessions of an earlier, vanished chain would only confuse the worker).
    """
    with tempfile.TemporaryDirectory(prefix="flexmarket-serve-") as tmp, AnvilNode() as node:
        folder = Path(tmp)
        key = node.private_keys[0]
        client = ChainClient(node.rpc_url, private_keys=[key], artifacts=compile_contracts())
        operator = client.add_account(key)
        contracts = deploy_market(client, deployer=operator)
        market = contracts.market  # the operator nets too: netting is on by default
        market.grant_role(market.role("CLEARING_HOUSE"), operator, sender=operator)
        path = contracts.deployment.save(folder / "deployment.json")
        yield EmbeddedMarket(
            rpc_url=node.rpc_url,
            deployment=contracts.deployment,
            deployment_file=path,
            operator_key=key,
            operator=operator,
            database_url=f"sqlite:///{folder / 'market.db'}" if own_store else None,
            bundle_dir=folder / "bundles" if own_store else None,
        )
