"""Issue 19: netting is on by default. With default settings (no clearing-house key) the
service's worker nets a FINAL session with the development operator's key when it holds
CLEARING_HOUSE; ``FLEXMARKET_NETTING=false`` turns it off, and both "off" cases say so in the
log (real anvil, store and API in-process)."""

from __future__ import annotations

import logging

import pytest
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    RULES,
    deliver,
    readings,
    session_to_delivery,
)

from adapters.chain.types import SessionState
from clearing.settlement.netting import netting_period_id
from market.clearing_house import store
from market.lifecycle.worker import step_history
from market.runtime import attach_settlement
from market.settings import Settings

pytestmark = pytest.mark.integration


def _defaults(chain, **fields) -> Settings:
    """What ``flexmarket serve`` reads with nothing but the oracle key set."""
    return Settings(
        database_url="sqlite://",
        oracle_key=chain.keys["oracle"],
        settlement_rules=RULES.to_json_obj(),
        **fields,
    )


def test_default_settings_net_a_finalized_session_with_the_development_operator(
    chain, runtime, clients
) -> None:
    market, op = chain.contracts.market, chain.addresses["operator"]
    market.grant_role(market.role("CLEARING_HOUSE"), op, sender=op)  # as the embedded chain
    s, _req, worker = session_to_delivery(chain, runtime, clients)
    start = s.delivery_start
    # the CPO posts its signed readings digests too, as every session's terms require
    deliver(runtime, clients, s.session_id, readings("ST-A", start, [BASELINE_W - ORDER_W] * 4))
    deliver(runtime, clients, s.session_id, readings("ST-B", start, [BASELINE_W] * 4))  # B: 0
    fsp_b, dso = chain.addresses["fsp_b"], chain.addresses["dso"]
    market.name_netting_payees([dso], sender=fsp_b)  # B's uncovered penalty goes to the DSO
    attach_settlement(worker, _defaults(chain), ledger=runtime.ledger)
    assert worker.clearing_hook is not None
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["clearing"]["status"] == "DONE", history["clearing"]
    period_id = netting_period_id(s.session_id)
    assert market.netting_settled(bytes.fromhex(period_id.removeprefix("0x")))
    saved = store.load_period(runtime.engine, s.session_id)
    assert saved is not None and saved["tx_hash"] is not None
    assert saved["period_id"] == period_id
    (event,) = chain.client.get_events("NettingSettled", 0, address=market.address)
    assert event.tx_hash == saved["tx_hash"]
    assert market.receivable(fsp_b, dso) > 0  # the penalty B's payout could not cover


def test_netting_false_turns_it_off_and_says_so(chain, runtime, clients, caplog) -> None:
    market, op = chain.contracts.market, chain.addresses["operator"]
    market.grant_role(market.role("CLEARING_HOUSE"), op, sender=op)
    _s, _req, worker = session_to_delivery(chain, runtime, clients)
    with caplog.at_level(logging.INFO, logger="market.runtime"):
        attach_settlement(worker, _defaults(chain, netting=False), ledger=runtime.ledger)
    assert worker.clearing_hook is None
    assert "netting off (FLEXMARKET_NETTING=false)" in caplog.text


def test_without_a_key_or_role_netting_is_off_naming_the_setting(
    chain, runtime, clients, caplog
) -> None:
    _s, _req, worker = session_to_delivery(chain, runtime, clients)
    with caplog.at_level(logging.INFO, logger="market.runtime"):
        attach_settlement(worker, _defaults(chain), ledger=runtime.ledger)
    assert worker.clearing_hook is None  # the operator holds no CLEARING_HOUSE here
    assert "netting off: no FLEXMARKET_CLEARING_HOUSE_KEY" in caplog.text
