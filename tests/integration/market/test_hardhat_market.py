"""The market service, worker and indexer on the second node implementation, Hardhat Network.

The same tests as on anvil, imported from their modules and collected here with
``market_chain`` overridden by a deployment on a Hardhat node: a whole session over HTTP with
the lifecycle worker, two workers racing (each on-chain step once), a refusal the chain names,
the indexer rebuilding the public store from chain events plus bundles, reorgs (by
evm_revert; Hardhat has no anvil_reorg) rolled back with a dropped finalize redone once,
confirmations, and two workers sharing one key through the database.
"""

from __future__ import annotations

import pytest
from test_indexer_reorg import (
    test_a_finalize_dropped_by_a_reorg_is_redone_once_and_paid_once,
    test_revert_below_the_cursor_then_a_longer_chain_is_a_reorg,
    test_the_indexer_applies_only_confirmed_blocks,
    test_views_of_a_client_with_confirmations_read_only_confirmed_blocks,
)
from test_reindex import test_drop_database_reindex_gives_same_public_state
from test_session_flow import test_complete_session_over_http
from test_shared_key_workers import (
    test_two_workers_sharing_one_key_run_a_day_without_a_nonce_error,
)
from test_worker_crash_race import (
    test_session_the_chain_refuses_is_rejected_not_retried,
    test_two_workers_race_each_onchain_step_happens_once,
)

from adapters.chain.hardhat import HardhatNode

pytestmark = [pytest.mark.integration, pytest.mark.hardhat, pytest.mark.timeout(300)]

SHARED = (  # collected here, run against Hardhat
    test_complete_session_over_http,
    test_drop_database_reindex_gives_same_public_state,
    test_session_the_chain_refuses_is_rejected_not_retried,
    test_two_workers_race_each_onchain_step_happens_once,
    test_a_finalize_dropped_by_a_reorg_is_redone_once_and_paid_once,
    test_revert_below_the_cursor_then_a_longer_chain_is_a_reorg,
    test_the_indexer_applies_only_confirmed_blocks,
    test_views_of_a_client_with_confirmations_read_only_confirmed_blocks,
    test_two_workers_sharing_one_key_run_a_day_without_a_nonce_error,
)


@pytest.fixture(scope="module")
def market_chain(deploy_chain):  # type: ignore[no-untyped-def]
    with HardhatNode(accounts=10) as node:
        yield deploy_chain(node)


def test_the_market_runs_on_hardhat(market_chain) -> None:  # type: ignore[no-untyped-def]
    assert str(market_chain.node.rpc("web3_clientVersion")).startswith("HardhatNetwork/")
    assert market_chain.client.chain_id == 31337
