"""An independent UFTP aggregator in the market: ``shapeshifter-uftp``'s own AGR service, over
real HTTP with Ed25519 signatures, against the gateway, a served market and a real anvil.

The AGR gets the DSO's request as a FlexRequest, answers with a D-Prognosis and a FlexOffer;
the gateway commits and submits it under the AGR's bound market address (the signed UFTP
message kept as proof), the session clears, the AGR gets its FlexOrder (its acceptance is the
market's dispatch acknowledgement), its station's signed meter readings go
through the market's verification, and its FlexSettlement's prices are the on-chain payouts.
"""

from __future__ import annotations

import json
import shutil
from base64 import b64decode, b64encode
from decimal import Decimal

import httpx
import pytest
from market_helpers import (
    CP,
    cpo_grants,
    escrow,
    make_request,
    make_worker,
    new_id,
    post_cpo_digests,
    setup_market,
)
from nacl.signing import VerifyKey
from shapeshifter_uftp.transport import from_xml, to_xml
from shapeshifter_uftp.uftp import SignedMessage
from uftp_kit import (
    AGR_DOMAIN,
    MARKET_DOMAIN,
    STATION,
    UFTP_CP,
    AgrScript,
    TestAgr,
    UftpKey,
    meter_public_key,
    peer_entry,
    received,
    run_gateway,
    same_day_gate,
    serve,
    store_station_readings,
    wait_for,
)

from clearing.encoding import uuid_to_bytes32
from clearing.messages import FlexOffer as FlexOfferModel
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.api.schemas import AssetCreate, SessionCreate
from market.audit.runner import run_audit
from market.client import ApiError, MarketClient, offer_commitment
from market.lifecycle.verification import make_verification_hook
from market.uftp.gateway import PATH

pytestmark = pytest.mark.integration
XML = {"Content-Type": "text/xml; charset=utf-8"}


def test_uftp_aggregator_bids_is_awarded_and_settled(chain, runtime, server, tmp_path) -> None:
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
    dso = MarketClient(server, chain.keys["dso"], now=now)
    req = make_request(s.session_id, expires_at=gate)
    escrow(chain, "dso", req)
    dso.post_request(req)

    # the AGR's charge point: its CPO registers the meter key on-chain and grants it to the AGR,
    # which registers it at onboarding (outside UFTP)
    cpo_grants(chain, STATION, meter_public_key(), "fsp_a")
    MarketClient(server, chain.keys["fsp_a"], now=now).register_asset(
        AssetCreate(
            asset_id=new_id(),
            congestion_point=CP,
            station_id=STATION,
            evse_id=1,
            max_import_w=22_000,
            max_export_w=0,
            meter_public_key=meter_public_key(),
        )
    )

    market_key, agr_key = UftpKey.generate(), UftpKey.generate()
    script = AgrScript()
    agr = TestAgr(
        script,
        sender_domain=AGR_DOMAIN,
        signing_key=agr_key.private,
        key_lookup_function=lambda domain, role: market_key.public,
        endpoint_lookup_function=lambda domain, role: gw.url,
        host="127.0.0.1",
        port=0,
    )
    with serve(agr.app) as agr_url:
        peer = peer_entry(
            chain=chain,
            who="fsp_a",
            domain=AGR_DOMAIN,
            role="AGR",
            key=agr_key,
            endpoint=agr_url + "/shapeshifter/api/v3/message",
            congestion_points=[UFTP_CP],
        )
        with run_gateway(api=server, chain=chain, key=market_key, peers=[peer], tmp=tmp_path) as gw:
            # the AGR gets the request and bids
            gw.gateway.run_once()
            (flex_request,) = wait_for(lambda: received(script, "FlexRequest"), "FlexRequest")
            assert flex_request.sender_domain == MARKET_DOMAIN
            assert flex_request.congestion_point == UFTP_CP
            requested = [i for i in flex_request.isps if i.disposition == "Requested"]
            assert [(i.min_power, i.max_power) for i in requested] == [(-20_000, 0)] * 4
            (answer,) = wait_for(lambda: received(script, "FlexOfferResponse"), "FlexOfferResponse")
            assert answer.result == "Accepted", answer.rejection_reason
            (prog,) = wait_for(lambda: received(script, "DPrognosisResponse"), "DPrognosisResponse")
            assert prog.result == "Accepted", prog.rejection_reason

            fsp = chain.addresses["fsp_a"].lower()
            market = chain.contracts.market
            (evidence,) = gw.gateway.ctx.journal.offers(s.session_id)
            offer = evidence["offer"]
            # committed on-chain under the AGR's bound address: the root of exactly this offer
            onchain = market.offer_commitment(uuid_to_bytes32(s.session_id), fsp)
            root, count = offer_commitment([FlexOfferModel.model_validate(offer)])
            assert (onchain.root, onchain.count) == (root, count)
            assert offer["fsp"] == fsp and offer["request_id"] == req.request_id
            # the proof: the AGR's Ed25519 signature over the UFTP FlexOffer it sent
            signed = VerifyKey(b64decode(agr_key.public)).verify(b64decode(evidence["sealed_b64"]))
            uftp_offer = from_xml(signed)
            assert uftp_offer.message_id == evidence["message_id"]
            # the AGR re-sends the same signed FlexOffer: answered alike, nothing done again
            resent = SignedMessage(
                sender_domain=AGR_DOMAIN,
                sender_role="AGR",
                body=b64decode(evidence["sealed_b64"]),
            )
            answer = httpx.post(gw.url, content=to_xml(resent), headers=XML)
            assert answer.status_code == 200
            wait_for(lambda: len(received(script, "FlexOfferResponse")) == 2, "second answer")
            assert received(script, "FlexOfferResponse")[1].result == "Accepted"
            assert len(gw.gateway.ctx.journal.offers(s.session_id)) == 1
            again = market.offer_commitment(uuid_to_bytes32(s.session_id), fsp)
            assert (again.root, again.count) == (root, count)
            # the market refuses a proof that does not prove the offer it comes with (422
            # naming the proof's field) and stores nothing
            fsp_client = MarketClient(server, chain.keys["fsp_a"], now=now)
            proof = {
                "scheme": "uftp-ed25519",
                "sender_domain": AGR_DOMAIN,
                "public_key": agr_key.public,
                "binding_signature": peer["binding_signature"],
                "message_id": evidence["message_id"],
                "sealed_b64": evidence["sealed_b64"],
            }
            honest = FlexOfferModel.model_validate(offer)
            cheaper = honest.model_copy(
                update={"options": (honest.options[0].model_copy(update={"price_per_mwh": 1}),)}
            )
            sealed = bytearray(b64decode(evidence["sealed_b64"]))
            sealed[-5] ^= 1
            forged = b64encode(bytes(sealed)).decode()
            refusals = (
                (cheaper, proof, "proof.sealed_b64"),
                (honest, {**proof, "sealed_b64": forged}, "proof.sealed_b64"),
                (
                    honest,
                    {**proof, "public_key": UftpKey.generate().public},
                    "proof.binding_signature",
                ),
                (honest, {**proof, "public_key": "not-base64"}, "proof.public_key"),
                (honest, {**proof, "scheme": "rsa"}, "proof.scheme"),
            )
            for body, bad_proof, field in refusals:
                with pytest.raises(ApiError) as refused:
                    fsp_client.post_offer(body, message_id=new_id(), proof=bad_proof)
                assert (refused.value.status, refused.value.field) == (422, field)
            fsp_client.sign_in()
            assert len(fsp_client.offers(s.session_id)) == 1
            (option,) = offer["options"]
            # 0.50 EUR for 4 x 5 kW x 15 min = 5 kWh -> 100 EUR/MWh
            assert option["price_per_mwh"] == 100_000_000
            assert [i["power_w"] for i in option["isps"]] == [5_000] * 4

            # gate closure and clearing: the AGR gets its FlexOrder and accepts it
            chain.warp_to(gate + 1)
            worker.run_once()
            assert op.session(s.session_id)["state"] == "CLEARED"
            (order,) = op.orders(s.session_id, fsp)

            # the proof travels with the offer: the market publishes it in the uftp bundle
            published = json.loads(
                httpx.get(f"{server}/sessions/{s.session_id}/bundles/uftp").content
            )
            (kept,) = published["proofs"]
            assert kept == {**proof, "offer_id": offer["offer_id"]}
            # the auditor reads it from the published bundles alone (no --uftp-evidence)
            report = run_audit(rpc=chain.node.rpc_url, market=market.address, bundles=server)
            (audited,) = report.sessions
            uftp_check = audited.check("uftp_offers")
            assert uftp_check.status == "pass", uftp_check.findings
            assert "1 UFTP offer(s) verified" in uftp_check.notes[-1]
            # a copy of the bundle folder with a tampered proof: a finding
            folder = tmp_path / "audited_bundles"
            shutil.copytree(runtime.bundles.directory, folder)
            for bad, code in (
                ({**kept, "sealed_b64": forged}, "uftp.signature_invalid"),
                ({**kept, "public_key": UftpKey.generate().public}, "uftp.binding_invalid"),
            ):
                tampered_doc = {**published, "proofs": [bad]}
                (folder / s.session_id / "uftp.json").write_text(json.dumps(tampered_doc))
                tampered = run_audit(
                    rpc=chain.node.rpc_url, market=market.address, bundles=str(folder)
                )
                found = tampered.sessions[0].check("uftp_offers").findings
                assert [f.code for f in found] == [code]
            (folder / s.session_id / "uftp.json").write_text('{"kind": "uftp_offer_proofs"}')
            unreadable = run_audit(
                rpc=chain.node.rpc_url, market=market.address, bundles=str(folder)
            )
            problems = unreadable.sessions[0].check("uftp_offers").problems
            assert [p.code for p in problems] == ["uftp.proofs_malformed"]

            # the auditor verifies the offers against the AGR's signed messages and binding
            base = gw.url.removesuffix(PATH)
            evidence_doc = httpx.get(f"{base}/sessions/{s.session_id}/evidence").json()
            assert len(evidence_doc["items"]) == 1
            path = tmp_path / "evidence.json"
            path.write_text(json.dumps(evidence_doc))
            report = run_audit(
                rpc=chain.node.rpc_url, market=market.address, bundles=server, uftp_evidence=path
            )
            (audited,) = report.sessions
            assert audited.check("offers").status == "pass"
            uftp_check = audited.check("uftp_offers")
            assert uftp_check.status == "pass", uftp_check.findings
            assert "1 UFTP offer(s) verified" in uftp_check.notes[-1]
            item = evidence_doc["items"][0]
            sealed = bytearray(b64decode(item["sealed_b64"]))
            sealed[-5] ^= 1
            forged = {**item, "sealed_b64": b64encode(bytes(sealed)).decode()}
            other = UftpKey.generate().public
            rebound = {**item, "public_key": other}
            cases = ((forged, "uftp.signature_invalid"), (rebound, "uftp.binding_invalid"))
            for bad, code in cases:
                path.write_text(json.dumps({**evidence_doc, "items": [bad]}))
                tampered = run_audit(
                    rpc=chain.node.rpc_url,
                    market=market.address,
                    bundles=server,
                    uftp_evidence=path,
                )
                found = tampered.sessions[0].check("uftp_offers").findings
                assert [f.code for f in found] == [code]
            gw.gateway.run_once()
            (flex_order,) = wait_for(lambda: received(script, "FlexOrder"), "FlexOrder")
            assert flex_order.order_reference == order["order_id"]
            assert flex_order.flex_offer_message_id == uftp_offer.message_id
            assert [i.power for i in flex_order.isps] == [-5_000] * 4
            acks = wait_for(
                lambda: [a for a in op.dispatch_acks(s.session_id) if a.get("acknowledged")],
                "dispatch ack",
            )
            assert order["order_id"] in acks[0]["acknowledged"]

            # delivery through the market's metering path: the AGR's station meters 5 kW
            # under its D-Prognosis (20 kW) in every ISP; the worker verifies and the oracle
            # attests; after the challenge window: FINAL, and the AGR is settled
            credits_before = market.credits(fsp)
            sent = store_station_readings(runtime.engine, s.delivery_start, [15_000] * 4)
            terms = SessionTerms.model_validate_json(runtime.bundles.get(s.session_id, "terms"))
            domain = (runtime.ledger.chain_id, runtime.ledger.market_address)
            cpo = MarketClient(server, chain.keys["cpo"], now=now)
            post_cpo_digests(cpo, terms, domain, sent, [STATION])  # the CPO vouches for them
            worker.verification_hook = make_verification_hook(
                engine=runtime.engine,
                ledger=runtime.ledger,
                bundles=runtime.bundles,
                oracle=chain.addresses["oracle"],
                rules=SettlementRules(),
            )
            chain.warp_to(s.delivery_end + 61)
            worker.run_once()
            assert op.session(s.session_id)["state"] == "VERIFIED"
            chain.warp_to(s.delivery_end + 61 + 301)
            worker.run_once()
            assert op.session(s.session_id)["state"] == "FINAL"
            gw.gateway.run_once()
            (settlement,) = wait_for(lambda: received(script, "FlexSettlement"), "FlexSettlement")
            paid_units = market.credits(fsp) - credits_before
            assert paid_units == 500_000  # 4 x 1250 Wh delivered at 100 EUR/MWh
            (line,) = settlement.flex_order_settlements
            assert line.order_reference == order["order_id"]
            assert Decimal(line.price).scaleb(6) == paid_units
            assert Decimal(line.net_settlement).scaleb(6) == paid_units
            # per ISP what the market measured: prognosis 20 kW, metered 15 kW, 5 kW less
            measured = [
                (i.baseline_power, i.actual_power, i.delivered_flex_power, i.power_deficiency)
                for i in line.isps
            ]
            assert measured == [(20_000, 15_000, -5_000, 0)] * 4
            assert "@0x" in line.contract_id
            wait_for(
                lambda: [
                    e
                    for e in gw.events
                    if e.get("kind") == "FlexSettlementResponse" and e.get("result") == "Accepted"
                ],
                "the AGR's FlexSettlementResponse",
            )
            # a second pass sends nothing again
            sent = len([e for e in gw.events if e["event"] == "sent"])
            gw.gateway.run_once()
            assert len([e for e in gw.events if e["event"] == "sent"]) == sent
            assert offer["congestion_point"] == CP
