"""Shared chain fixtures: one real anvil per test run, one deployment, a clean state per test.

Fixture names are a stable API for every test package:

* ``anvil_node`` (session): a running ``AnvilNode`` (10 funded dev accounts).
* ``chain`` (session): a ``ChainClient`` on it holding all 10 keys.
* ``deployment`` (function): ``MarketContracts`` (token, market, positions) with the
  ``parties`` registered and the DSO funded; the chain is reverted to that state before
  every test that asks for it, so tests cannot see each other's transactions.
* ``parties`` (function): the ``Roles`` of that deployment (admin/operator, DSO, three FSPs,
  meter oracle, arbiter) plus ``outsider``, an unregistered funded account.

A directory may override ``chain`` with its own fixture; the others keep working.
``FLEXMARKET_TEST_NODE=hardhat`` runs these fixtures on a Hardhat node instead of anvil.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import MarketContracts, deploy_market
from adapters.chain.lifecycle import Roles, onboard
from adapters.chain.nodes import local_node
from adapters.chain.toolchain import compile_contracts

DSO_FUNDS_UNITS = 1_000_000 * 1_000_000  # 1 000 000 EUR
TEST_NODE = os.environ.get("FLEXMARKET_TEST_NODE", "anvil")


@dataclass
class Parties(Roles):
    """``Roles`` plus an account that holds ETH but no market role."""

    outsider: str = ""


@dataclass
class _Base:
    node: AnvilNode
    client: ChainClient
    contracts: MarketContracts
    parties: Parties
    snapshot_id: str


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    with local_node(TEST_NODE, accounts=10) as node:
        yield node


@pytest.fixture(scope="session")
def chain(anvil_node: AnvilNode) -> ChainClient:
    return ChainClient(
        anvil_node.rpc_url, private_keys=anvil_node.private_keys, artifacts=compile_contracts()
    )


def _deploy_base(anvil_node: AnvilNode) -> _Base:
    """Deploy and onboard the parties on ``anvil_node`` (any node implementation)."""
    # Its own client, so a directory overriding ``chain`` does not change what is deployed.
    client = ChainClient(
        anvil_node.rpc_url, private_keys=anvil_node.private_keys, artifacts=compile_contracts()
    )
    a = client.accounts
    contracts = deploy_market(client, deployer=a[0])
    parties = Parties(
        admin=a[0],
        operator=a[0],
        dso=a[1],
        fsps=[a[2], a[3], a[4]],
        oracle=a[5],
        arbiter=a[6],
        outsider=a[7],
    )
    onboard(contracts, parties, mint_to_dso=DSO_FUNDS_UNITS)
    return _Base(anvil_node, client, contracts, parties, anvil_node.snapshot())


@pytest.fixture(scope="session")
def deploy_base() -> Callable[[AnvilNode], _Base]:
    """The deployer behind ``_market_base``: a module overriding ``anvil_node`` (e.g. with a
    Hardhat node) overrides ``_market_base`` with ``deploy_base(its_node)`` at its own scope."""
    return _deploy_base


@pytest.fixture(scope="session")
def _market_base(anvil_node: AnvilNode) -> _Base:
    return _deploy_base(anvil_node)


@pytest.fixture
def deployment(_market_base: _Base, anvil_node: AnvilNode) -> MarketContracts:
    base = _market_base
    anvil_node.revert(base.snapshot_id)  # an anvil snapshot is used up by a revert
    base.snapshot_id = anvil_node.snapshot()
    base.client.reset_nonces()
    return base.contracts


@pytest.fixture
def parties(deployment: MarketContracts, _market_base: _Base) -> Parties:
    return _market_base.parties
