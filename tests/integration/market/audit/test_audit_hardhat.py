"""The auditor on the second node implementation, Hardhat Network.

The same tests as on anvil, imported from their modules and collected here with
``market_chain`` overridden by a deployment on a Hardhat node: an honest session passes every
check (bundles read from a folder and over HTTP), FSP receipts, sessions in several states
with a netting period, an honest dispute resolution, and a tampered offer is named.
"""

from __future__ import annotations

import pytest
from test_audit_dispute import test_honest_dispute_resolution_passes
from test_audit_honest import (
    test_fsp_receipts_prove_inclusion_and_catch_a_changed_offer,
    test_honest_session_passes_every_check,
    test_sessions_in_several_states_and_a_netting_period_reconcile,
)
from test_audit_tamper import test_changed_offer_price_is_offers_changed

from adapters.chain.hardhat import HardhatNode

pytestmark = [pytest.mark.integration, pytest.mark.hardhat, pytest.mark.timeout(300)]

SHARED = (  # collected here, run against Hardhat
    test_changed_offer_price_is_offers_changed,
    test_fsp_receipts_prove_inclusion_and_catch_a_changed_offer,
    test_honest_dispute_resolution_passes,
    test_honest_session_passes_every_check,
    test_sessions_in_several_states_and_a_netting_period_reconcile,
)


@pytest.fixture(scope="module")
def market_chain(deploy_chain):  # type: ignore[no-untyped-def]
    with HardhatNode(accounts=10) as node:
        yield deploy_chain(node)
