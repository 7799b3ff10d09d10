"""One nonce sequence per key shared through the database: two clients (as two worker
processes would be) signing with one key never hand the node a used nonce."""

from __future__ import annotations

import threading

import pytest

from adapters.chain.client import ChainClient
from market.nonces import DbNonces
from market.store.db import make_engine, upgrade

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _two_clients(chain, db_url: str | None) -> tuple[ChainClient, ChainClient]:
    """Two clients with the operator's key, each with its own engine (as two processes)."""
    clients = []
    for _ in range(2):
        nonces = DbNonces(make_engine(db_url)) if db_url else None
        clients.append(
            ChainClient(
                chain.client.rpc_url,
                private_keys=[chain.keys["operator"]],
                artifacts=chain.client.artifacts,
                nonces=nonces,
            )
        )
    return clients[0], clients[1]


def _approve(client: ChainClient, chain, amount: int) -> None:
    token = chain.contracts.token.address
    data = client.bind("SettlementToken", token).encode(
        "approve", chain.addresses["outsider"], amount
    )
    client.send(token, data, sender=chain.addresses["operator"])


def test_in_memory_nonces_of_two_processes_collide(chain) -> None:
    """The problem: each process caches its own next nonce, so the second sender's use of a
    nonce is invisible to the first, whose next send the node refuses (then retried)."""
    a, b = _two_clients(chain, None)
    _approve(a, chain, 1)
    _approve(b, chain, 2)
    _approve(a, chain, 3)  # a still believes the nonce b just used is next
    assert a.nonce_retries == 1


def test_database_nonces_of_two_processes_never_collide(chain, db_url: str) -> None:
    upgrade(db_url)
    a, b = _two_clients(chain, db_url)
    _approve(a, chain, 1)
    _approve(b, chain, 2)
    _approve(a, chain, 3)
    assert (a.nonce_retries, b.nonce_retries) == (0, 0)


def test_two_processes_sending_concurrently_use_each_nonce_once(chain, db_url: str) -> None:
    upgrade(db_url)
    a, b = _two_clients(chain, db_url)
    operator = chain.addresses["operator"]
    start = int(chain.client.rpc("eth_getTransactionCount", [operator, "latest"]), 16)
    errors: list[Exception] = []

    def sender(client: ChainClient, first: int) -> None:
        try:
            for i in range(6):
                _approve(client, chain, first + i)
        except Exception as exc:  # the assertion below names it
            errors.append(exc)

    threads = [
        threading.Thread(target=sender, args=(client, 100 * (n + 1)))  # never approve 0
        for n, client in enumerate((a, b, a, b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert (a.nonce_retries, b.nonce_retries) == (0, 0), "no nonce error, not even retried"
    end = int(chain.client.rpc("eth_getTransactionCount", [operator, "latest"]), 16)
    assert end == start + 24
