"""An independent UFTP DSO in the market: ``shapeshifter-uftp``'s own DSO service and client,
over real HTTP with Ed25519 signatures, against the gateway, a served market and a real anvil.

The DSO's FlexRequest joins the open session: its budget is escrowed from the DSO's bound
market account and the request published. An FSP bids in the market; after clearing the DSO
gets the cleared FlexOffer, orders it, and once final receives a FlexSettlement whose amounts
are the on-chain payouts and whose lines name the paying transaction.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from market_helpers import (
    CP,
    attest_in_full,
    commit,
    make_offer,
    make_worker,
    new_id,
    setup_market,
)
from shapeshifter_uftp.client import ShapeshifterDsoAgrClient
from uftp_kit import (
    DSO_DOMAIN,
    TZ,
    TestDso,
    UftpKey,
    of_kind,
    peer_entry,
    run_gateway,
    same_day_gate,
    serve,
    uftp_request,
    wait_for,
)

from clearing.messages import FlexRequest as MarketRequest
from market.agents.common import as_message
from market.api.schemas import SessionCreate
from market.client import MarketClient
from market.uftp.convert import Window

pytestmark = pytest.mark.integration
BUDGET_UNITS = 40_000_000
ORDER_W = 5_000


def test_uftp_dso_requests_gets_offers_orders_and_settlement(
    chain, runtime, server, tmp_path
) -> None:
    now = runtime.core.clock.now
    op = MarketClient(server, chain.keys["operator"], now=now)
    setup_market(op)
    gate = same_day_gate(int(now()), length_s=900 + 3600)
    s = SessionCreate(
        session_id=new_id(),
        gate_closure=gate,
        delivery_start=gate + 900,
        delivery_end=gate + 900 + 3600,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(s)
    worker = make_worker(runtime)
    worker.run_once()
    window = Window.of(op.session(s.session_id), TZ)

    market_key, dso_key = UftpKey.generate(), UftpKey.generate()
    inbox: list[object] = []
    dso = TestDso(
        inbox,
        sender_domain=DSO_DOMAIN,
        signing_key=dso_key.private,
        key_lookup_function=lambda domain, role: market_key.public,
        endpoint_lookup_function=lambda domain, role: gw.url,
        host="127.0.0.1",
        port=0,
    )
    token, market = chain.contracts.token, chain.contracts.market
    dso_address = chain.addresses["dso"]
    with serve(dso.app) as dso_url:
        peer = peer_entry(
            chain=chain,
            who="dso",
            domain=DSO_DOMAIN,
            role="DSO",
            key=dso_key,
            endpoint=dso_url + "/shapeshifter/api/v3/message",
            terms={"max_price_per_mwh": 400_000_000, "budget_units": BUDGET_UNITS},
        )
        with run_gateway(api=server, chain=chain, key=market_key, peers=[peer], tmp=tmp_path) as gw:
            before = token.balance_of(dso_address)
            client = ShapeshifterDsoAgrClient(
                sender_domain=DSO_DOMAIN,
                signing_key=dso_key.private,
                recipient_domain="market.flexmarket.example",
                recipient_endpoint=gw.url,
                recipient_signing_key=market_key.public,
            )
            message = uftp_request(window, expires=gate)
            client.send_flex_request(message)
            (answer,) = wait_for(lambda: of_kind(inbox, "FlexRequestResponse"), "response")
            assert answer.result == "Accepted", answer.rejection_reason
            assert answer.flex_request_message_id == message.message_id

            # escrowed from the DSO's account, published in the session under its address
            assert before - token.balance_of(dso_address) == BUDGET_UNITS
            (row,) = op.requests(s.session_id)
            assert row["submitter"].lower() == dso_address.lower()
            req = as_message(MarketRequest, row)
            assert req.direction == "UP" and req.congestion_point == CP
            assert [(i.min_power_w, i.max_power_w) for i in req.isps] == [(0, 20_000)] * 4

            # the same message again: answered alike, nothing escrowed twice
            client._send_message(message)
            wait_for(lambda: len(of_kind(inbox, "FlexRequestResponse")) == 2, "second answer")
            assert before - token.balance_of(dso_address) == BUDGET_UNITS
            assert len(op.requests(s.session_id)) == 1

            # an FSP bids in the market; the session clears
            fsp = MarketClient(server, chain.keys["fsp_b"], now=now)
            offer = make_offer(
                s.session_id,
                fsp.address,
                expires_at=gate,
                request_id=req.request_id,
                power_w=ORDER_W,
                price=100_000_000,
            )
            fsp.post_offer(offer)
            commit(chain, "fsp_b", s.session_id, [offer])
            chain.warp_to(gate + 1)
            worker.run_once()
            (order,) = op.orders(s.session_id)

            # the DSO gets the cleared offer and orders it
            gw.gateway.run_once()
            (cleared,) = wait_for(lambda: of_kind(inbox, "FlexOffer"), "cleared FlexOffer")
            assert cleared.flex_request_message_id == message.message_id
            (option,) = cleared.offer_options
            assert [i.power for i in option.isps] == [-ORDER_W] * 4
            (ordered,) = wait_for(lambda: of_kind(inbox, "FlexOrderResponse"), "order answer")
            assert ordered.result == "Accepted", ordered.rejection_reason

            # delivered, final: the FlexSettlement carries the on-chain payouts
            credits_before = market.credits(fsp.address)
            chain.warp_to(s.delivery_end + 61)
            attest_in_full(chain, runtime.ledger, s.session_id, b"\x02" * 32)
            worker.run_once()
            chain.warp_to(s.delivery_end + 61 + 301)
            worker.run_once()
            assert op.session(s.session_id)["state"] == "FINAL"
            gw.gateway.run_once()
            (settlement,) = wait_for(lambda: of_kind(inbox, "FlexSettlement"), "settlement")
            paid_units = market.credits(fsp.address) - credits_before
            assert paid_units > 0
            (line,) = settlement.flex_order_settlements
            assert line.order_reference == order["order_id"]
            assert Decimal(line.net_settlement).scaleb(6) == paid_units
            request_id, tx = line.contract_id.split("@")
            assert request_id == req.request_id
            receipt = chain.client.rpc("eth_getTransactionReceipt", [tx])
            assert int(receipt["status"], 16) == 1
            assert receipt["to"].lower() == market.address.lower()
