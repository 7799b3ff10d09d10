"""Delivery is verified against exactly the prognosis and portfolio each FSP committed: FSP A
posts a second (higher) prognosis and registers another station after committing; the service
still measures A against its committed baseline on its committed meters, so the delivery bundle
carries the committed preimages (the auditor's ``fsp_data`` check) and A is paid in full."""

from __future__ import annotations

import json

import pytest
from market_helpers import CP, cpo_grants, new_id
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    PRICE_A,
    RULES,
    deliver,
    energy,
    paid,
    pubkey,
    readings,
    session_to_delivery,
)

from adapters.chain.types import SessionState
from clearing.commitments import own_portfolios, own_prognoses, portfolio_hash, prognosis_hash
from clearing.encoding import canonical_json, uuid_to_bytes32
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.report import Portfolio
from market.api.schemas import AssetCreate
from market.lifecycle.verification import make_verification_hook

pytestmark = pytest.mark.integration

LATE_KEY = "0x" + "33" * 32
LATE_PROGNOSIS = "00000000-0000-4000-8000-000000000001"  # sorts before any other id


def _late_data(chain):
    """After committing, FSP A posts an inflated prognosis and registers station ST-C."""

    def act(s, clients) -> None:
        fsp_a = clients("fsp_a")
        fsp_a.post_prognosis(
            DPrognosis(
                prognosis_id=LATE_PROGNOSIS,
                session_id=s.session_id,
                fsp=fsp_a.address,
                congestion_point=CP,
                isps=[BaselineIsp(isp_index=i, power_w=BASELINE_W + 50_000) for i in range(4)],
            )
        )
        cpo_grants(chain, "ST-C", pubkey(LATE_KEY), "fsp_a")
        fsp_a.register_asset(
            AssetCreate(
                asset_id=new_id(),
                congestion_point=CP,
                station_id="ST-C",
                evse_id=1,
                max_import_w=22_000,
                max_export_w=22_000,
                meter_public_key=pubkey(LATE_KEY),
            )
        )

    return act


def test_late_prognosis_and_asset_do_not_count(chain, runtime, clients, api) -> None:
    s, _req, worker = session_to_delivery(chain, runtime, clients, after_commit=_late_data(chain))
    assert len(api.get(f"/sessions/{s.session_id}/prognoses").json()) == 3
    assert {a["station_id"] for a in api.get("/assets").json()} >= {"ST-A", "ST-B", "ST-C"}
    delivered = [BASELINE_W - ORDER_W] * 4
    for station in ("ST-A", "ST-B"):
        deliver(runtime, clients, s.session_id, readings(station, s.delivery_start, delivered))
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED

    inputs = json.loads(api.get(f"/sessions/{s.session_id}/bundles/delivery").content)["inputs"]
    prognoses = [DPrognosis.model_validate_json(canonical_json(p)) for p in inputs["prognoses"]]
    portfolios = [Portfolio.model_validate_json(canonical_json(p)) for p in inputs["portfolios"]]
    assert LATE_PROGNOSIS not in {p.prognosis_id for p in prognoses}
    assert "ST-C" not in {m.station for p in portfolios for m in p.meters}
    market = chain.contracts.market
    for who in ("fsp_a", "fsp_b"):  # what the auditor's fsp_data check compares
        fsp = chain.addresses[who].lower()
        committed = market.offer_commitment(uuid_to_bytes32(s.session_id), fsp)
        assert prognosis_hash(own_prognoses(prognoses, fsp)) == committed.prognosis_hash, who
        assert portfolio_hash(own_portfolios(portfolios, fsp)) == committed.portfolio_hash, who

    fsp_a = chain.addresses["fsp_a"].lower()
    reservations = runtime.ledger.clearing(s.session_id).reservations
    attested = runtime.ledger.payouts(s.session_id)
    by_fsp = {r.fsp.lower(): p for r, p in zip(reservations, attested.payouts, strict=True)}
    assert by_fsp[fsp_a] == paid(4 * energy(ORDER_W, 900), PRICE_A)
