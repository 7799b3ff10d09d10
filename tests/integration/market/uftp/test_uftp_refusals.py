"""Refusals of the UFTP gateway, each leaving the market as it was: a wrong signature and an
unknown sender (HTTP 401, nothing answered), a stale message, a FlexRequest for a day without
an open session and a FlexOffer for a closed session (the UFTP ``*Response`` Rejected with the
reason), a MessageID re-used for other contents (Duplicate Identifier), and a
FlexOfferRevocation (the market has no offer withdrawal).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from market_helpers import escrow, make_request, make_worker, new_id, setup_market
from shapeshifter_uftp.client import ShapeshifterAgrDsoClient, ShapeshifterDsoAgrClient
from shapeshifter_uftp.exceptions import ClientTransportException
from shapeshifter_uftp.uftp import (
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferRevocation,
)
from uftp_kit import (
    AGR_DOMAIN,
    DSO_DOMAIN,
    MARKET_DOMAIN,
    TZ,
    UFTP_CP,
    AgrScript,
    TestAgr,
    TestDso,
    UftpKey,
    of_kind,
    peer_entry,
    received,
    run_gateway,
    same_day_gate,
    serve,
    uftp_request,
    wait_for,
)

from clearing.encoding import uuid_to_bytes32
from market.api.schemas import SessionCreate
from market.client import MarketClient
from market.uftp.convert import Window

pytestmark = pytest.mark.integration


def test_refusals_change_nothing(chain, runtime, server, tmp_path) -> None:
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
    # a request of another DSO (chain key dso2), which the AGR is asked to answer
    req = make_request(s.session_id, expires_at=gate)
    escrow(chain, "dso2", req)
    MarketClient(server, chain.keys["dso2"], now=now).post_request(req)

    market_key, dso_key, agr_key = UftpKey.generate(), UftpKey.generate(), UftpKey.generate()
    inbox: list[object] = []
    script = AgrScript(bid=False)
    lookups = {
        "key_lookup_function": lambda domain, role: market_key.public,
        "endpoint_lookup_function": lambda domain, role: gw.url,
        "host": "127.0.0.1",
        "port": 0,
    }
    dso = TestDso(inbox, sender_domain=DSO_DOMAIN, signing_key=dso_key.private, **lookups)
    agr = TestAgr(script, sender_domain=AGR_DOMAIN, signing_key=agr_key.private, **lookups)
    token, market = chain.contracts.token, chain.contracts.market
    dso_address = chain.addresses["dso"]
    with serve(dso.app) as dso_url, serve(agr.app) as agr_url:
        peers = [
            peer_entry(
                chain=chain,
                who="dso",
                domain=DSO_DOMAIN,
                role="DSO",
                key=dso_key,
                endpoint=dso_url + "/shapeshifter/api/v3/message",
                terms={"max_price_per_mwh": 400_000_000, "budget_units": 40_000_000},
            ),
            peer_entry(
                chain=chain,
                who="fsp_a",
                domain=AGR_DOMAIN,
                role="AGR",
                key=agr_key,
                endpoint=agr_url + "/shapeshifter/api/v3/message",
                congestion_points=[UFTP_CP],
            ),
        ]
        points = {UFTP_CP: "EAN-CP-0001", "ean.871685900000000002": "EAN-CP-UNKNOWN"}
        with run_gateway(
            api=server,
            chain=chain,
            key=market_key,
            peers=peers,
            tmp=tmp_path,
            congestion_points=points,
        ) as gw:
            journal = gw.gateway.ctx.journal
            balance = token.balance_of(dso_address)

            def unchanged() -> None:
                assert token.balance_of(dso_address) == balance
                assert [r["body"]["request_id"] for r in op.requests(s.session_id)] == [
                    req.request_id
                ]

            def dso_client(key: UftpKey, domain: str = DSO_DOMAIN) -> ShapeshifterDsoAgrClient:
                return ShapeshifterDsoAgrClient(
                    sender_domain=domain,
                    signing_key=key.private,
                    recipient_domain=MARKET_DOMAIN,
                    recipient_endpoint=gw.url,
                    recipient_signing_key=market_key.public,
                )

            # wrong signature: HTTP 401, not recorded, not answered
            forged = uftp_request(window, expires=gate)
            with pytest.raises(ClientTransportException) as bad_sig:
                dso_client(UftpKey.generate()).send_flex_request(forged)
            assert bad_sig.value.response.status_code == 401
            assert "signature" in bad_sig.value.response.text
            assert journal.seen(DSO_DOMAIN, str(forged.message_id), b"") is None
            unchanged()

            # unknown sender: HTTP 401
            with pytest.raises(ClientTransportException) as stranger:
                dso_client(dso_key, "stranger.example.com").send_flex_request(
                    uftp_request(window, expires=gate)
                )
            assert stranger.value.response.status_code == 401
            assert "unknown sender" in stranger.value.response.text
            unchanged()

            # stale: signed an hour ago
            stale = uftp_request(window, expires=gate)
            stale.time_stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
            dso_client(dso_key).send_flex_request(stale)
            (answer,) = wait_for(lambda: of_kind(inbox, "FlexRequestResponse"), "stale answer")
            assert answer.result == "Rejected"
            assert answer.rejection_reason.startswith("Stale Message")
            unchanged()

            # the same MessageID with other contents: Duplicate Identifier
            dup = uftp_request(window, expires=gate)
            dup.message_id = stale.message_id
            dso_client(dso_key).send_flex_request(dup)
            wait_for(lambda: len(of_kind(inbox, "FlexRequestResponse")) == 2, "dup answer")
            assert of_kind(inbox, "FlexRequestResponse")[1].rejection_reason == (
                "Duplicate Identifier"
            )
            unchanged()

            # a point the operator mapped to a code the market does not know: the escrow is
            # made, the market refuses to publish, the escrow is cancelled (the budget is the
            # DSO's withdrawable credit again) and the DSO gets the reason
            credits = market.credits(dso_address)
            unmapped = uftp_request(window, expires=gate)
            unmapped.congestion_point = "ean.871685900000000002"
            dso_client(dso_key).send_flex_request(unmapped)
            wait_for(lambda: len(of_kind(inbox, "FlexRequestResponse")) == 3, "unmapped answer")
            refused_request = of_kind(inbox, "FlexRequestResponse")[2]
            assert refused_request.result == "Rejected"
            assert "not registered" in refused_request.rejection_reason
            assert market.credits(dso_address) - credits == 40_000_000
            balance -= 40_000_000  # moved to the DSO's credit, withdrawable
            unchanged()

            # the AGR is asked (it does not bid yet); the session then closes
            gw.gateway.run_once()
            (flex_request,) = wait_for(lambda: received(script, "FlexRequest"), "FlexRequest")
            chain.warp_to(gate + 1)
            worker.run_once()
            assert op.session(s.session_id)["state"] != "OPEN"

            # a FlexRequest for the closed session's day: no open session to join
            late = uftp_request(window, expires=gate + 3600)
            dso_client(dso_key).send_flex_request(late)
            wait_for(lambda: len(of_kind(inbox, "FlexRequestResponse")) == 4, "late answer")
            late_answer = of_kind(inbox, "FlexRequestResponse")[3]
            assert late_answer.result == "Rejected"
            assert late_answer.rejection_reason.startswith("Period Out Of Bounds")
            unchanged()

            # a FlexOffer answering the request of the closed session
            offer = FlexOffer(
                isp_duration=flex_request.isp_duration,
                time_zone=flex_request.time_zone,
                period=flex_request.period,
                congestion_point=UFTP_CP,
                expiration_date_time=flex_request.expiration_date_time,
                flex_request_message_id=flex_request.message_id,
                offer_options=[
                    FlexOfferOption(
                        option_reference="late",
                        price=Decimal("0.5"),
                        isps=[
                            FlexOfferOptionISP(power=-5_000, start=i.start)
                            for i in flex_request.isps
                        ],
                    )
                ],
            )
            agr_client = ShapeshifterAgrDsoClient(
                sender_domain=AGR_DOMAIN,
                signing_key=agr_key.private,
                recipient_domain=MARKET_DOMAIN,
                recipient_endpoint=gw.url,
                recipient_signing_key=market_key.public,
            )
            agr_client.send_flex_offer(offer)
            (refused,) = wait_for(lambda: received(script, "FlexOfferResponse"), "offer answer")
            assert refused.result == "Rejected"
            assert refused.rejection_reason.startswith("Reference Message Expired")
            fsp = chain.addresses["fsp_a"]
            assert market.offer_commitment(uuid_to_bytes32(s.session_id), fsp).root == b"\x00" * 32
            assert journal.offers(s.session_id) == []

            # a revocation: the market has no offer withdrawal, said as the reason
            agr_client.send_flex_offer_revocation(
                FlexOfferRevocation(flex_offer_message_id=str(offer.message_id))
            )
            (revoked,) = wait_for(
                lambda: received(script, "FlexOfferRevocationResponse"), "revocation answer"
            )
            assert revoked.result == "Rejected"
            assert "no offer withdrawal" in revoked.rejection_reason
