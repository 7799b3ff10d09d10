"""The DSO's day to the end on /dso: it creates a request in the page, then sees it cleared
(the order), delivered (the published delivery bundle per order and ISP, from signed meter
readings the worker verified) and settled (the budget split into payout and refund), and the
session FINAL, without reloading: the page follows the event stream.

The other parties are played with the service settlement tests' pieces: an FSP with a
CPO-granted station, its baseline prognosis and a committed offer; signed readings showing
the ordered 5 kW; the worker with the meter oracle's verification hook.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from market_helpers import (
    CP,
    client_for,
    commit,
    cpo_grants,
    make_offer,
    make_worker,
    new_id,
    open_session,
    post_cpo_digests,
    setup_market,
)

from clearing.messages import BaselineIsp, DPrognosis
from clearing.terms import SessionTerms
from market.api.schemas import AssetCreate, ParticipantCreate
from market.auth.summary import eur
from market.lifecycle.verification import make_verification_hook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settlement"))
from service_settlement_helpers import (  # the settlement tests' one definition
    BASELINE_W,
    ORDER_W,
    PRICE_A,
    RULES,
    STATION_KEYS,
    energy,
    paid,
    pubkey,
    readings,
    store_readings,
)

pytestmark = pytest.mark.integration
BUDGET_UNITS = 30_000_000  # 30 EUR, typed into the page


def test_dso_creates_a_request_and_sees_it_cleared_delivered_and_settled(
    live_web, chain, runtime, server
) -> None:
    op = client_for(server, chain, "operator", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    fsp.register_participant(ParticipantCreate(name="A", ean_codes=[CP]))
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    cpo_grants(chain, "ST-A", pubkey(STATION_KEYS["ST-A"]), "fsp_a")
    fsp.register_asset(
        AssetCreate(
            asset_id=new_id(),
            congestion_point=CP,
            station_id="ST-A",
            evse_id=1,
            max_import_w=22_000,
            max_export_w=22_000,
            meter_public_key=pubkey(STATION_KEYS["ST-A"]),
        )
    )
    fsp.post_prognosis(
        DPrognosis(
            prognosis_id=new_id(),
            session_id=s.session_id,
            fsp=fsp.address,
            congestion_point=CP,
            isps=[BaselineIsp(isp_index=i, power_w=BASELINE_W) for i in range(4)],
        )
    )
    dso = chain.addresses["dso"].lower()

    # 1. The DSO creates the request in the page: signed, escrowed, submitted.
    page = live_web.page
    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.wait_for_selector("#live.ok")
    page.wait_for_selector("#dev-accounts:not([hidden])")
    page.select_option("#dev-account", dso)
    page.click("#sign-in-dev")
    page.wait_for_selector("#who.ok")
    page.fill("#req-max-w", "12000")
    page.fill("#req-max-price", "250.5")
    page.fill("#req-budget", "30")
    page.click("#req-submit")
    page.wait_for_selector("#req-steps li.done[data-step='submitted']", timeout=90_000)
    request_id = page.locator("#request-form").get_attribute("data-request-id")
    page.wait_for_selector("#requests-table >> text=escrowed 30.00 EUR")
    page.click("#sign-out")  # the chain's clock moves past the sign-in's expiry below
    page.wait_for_selector("#who.muted")

    # 2. Cleared: an FSP's committed offer becomes the order the page lists.
    offer = make_offer(
        s.session_id,
        fsp.address,
        expires_at=s.gate_closure,
        request_id=request_id,
        power_w=ORDER_W,
        price=PRICE_A,
    )
    fsp.post_offer(offer)
    commit(chain, "fsp_a", s.session_id, [offer], via=fsp)
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    page.wait_for_selector("main[data-state='DELIVERING']")
    (order,) = op.orders(s.session_id)
    orders_text = page.locator("#orders-table").inner_text()
    assert order["order_id"][:8] in orders_text and f"{4 * energy(ORDER_W, 900)} Wh" in orders_text

    # 3. Delivered: the station's signed readings show the 5 kW; the oracle's verification
    # publishes the delivery bundle, which the page draws per order and ISP.
    sent = readings("ST-A", s.delivery_start, [BASELINE_W - ORDER_W] * 4)
    store_readings(runtime.engine, sent)
    terms = SessionTerms.model_validate_json(runtime.bundles.get(s.session_id, "terms"))
    domain = (runtime.ledger.chain_id, runtime.ledger.market_address)
    cpo = client_for(server, chain, "cpo", runtime)
    post_cpo_digests(cpo, terms, domain, sent, ["ST-A"])  # the station's CPO vouches for them
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    page.wait_for_selector("main[data-state='VERIFIED']")
    page.wait_for_selector(f".delivery-table[data-order='{order['order_id']}']")
    bundle = json.loads(op.bundle(s.session_id, "delivery"))
    (delivered,) = bundle["report"]["orders"]
    rows = page.locator(f".delivery-table[data-order='{order['order_id']}'] tbody tr")
    assert rows.count() == len(delivered["isps"]) == 4
    for i, isp in enumerate(delivered["isps"]):
        cells = rows.nth(i).locator("td").all_inner_texts()
        keys = ("ordered_w", "baseline_w", "actual_w", "delivered_w", "credited_w")
        assert cells[1:6] == [str(isp[k]) for k in keys]
        assert (isp["ordered_w"], isp["baseline_w"]) == (ORDER_W, BASELINE_W)
        assert abs(isp["delivered_w"] - ORDER_W) < ORDER_W // 100  # meter rounding only

    # 4. Settled: the budget splits into the FSP's payout and the DSO's refund.
    report = bundle["report"]
    payout = sum(p["payout_units"] for p in report["payouts"])
    assert 0 < payout <= paid(4 * energy(ORDER_W, 900), PRICE_A)  # at most 5 kWh at 100/MWh
    refund = BUDGET_UNITS - payout
    assert [r["refund_units"] for r in report["refunds"]] == [refund]
    split = page.locator("#money-split tbody tr").inner_text()
    for units in (BUDGET_UNITS, payout, refund):
        assert eur(units) in split
    refunds = page.locator("#refunds-table").inner_text()
    assert request_id[:8] in refunds and eur(refund) in refunds
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    page.wait_for_selector("main[data-state='FINAL']")
    assert "FINAL" in page.locator("#summary-table").inner_text()
    assert "No dispute was raised." in page.locator("#dispute-state").inner_text()
    live_web.screenshot("dso-journey-settled")
    live_web.assert_clean()
