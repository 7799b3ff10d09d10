"""The market side of the settlement end-to-end test: the session opened over HTTP with both
FSPs' prognoses, the DSO's escrowed request and the FSPs' committed offers; later, the FSPs'
signed revenue-sharing contracts and their users' contributions."""

from __future__ import annotations

import uuid
from typing import Any

from settlement_e2e_kit import (
    BASELINE_W,
    BUDGET,
    CP,
    CPO_FEE_A_PER_KWH,
    INCENTIVE_A_PPM,
    INCENTIVE_B_PER_KWH_DISCHARGED,
    ISP_S,
    N_ISPS,
    ORDER_A,
    ORDER_B,
    PLATFORM_FEE_A_PPM,
    PRICE_A,
    PRICE_B,
    STATIONS,
    in_thread,
    public_key,
    station_key,
)

from adapters.chain.types import SessionState
from clearing.encoding import code_to_bytes32, uuid_to_bytes32
from clearing.messages import (
    BaselineIsp,
    DPrognosis,
    FlexOffer,
    FlexOfferOption,
    FlexRequest,
    IspPower,
    RequestIsp,
)
from clearing.settlement.revenue import RevenueShareContract, UserContribution, sign_contract
from clearing.trust import station_address
from market.api.schemas import AssetCreate, CongestionPointCreate, ParticipantCreate, SessionCreate
from market.clearing_house.period import SignedContract
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant


async def open_session(w: dict[str, Any]) -> SessionCreate:
    """Schedule a session ten ISPs ahead, open it on-chain and post everything before gate
    closure: assets, prognoses, the request (escrowed on-chain) and the committed offers."""
    c, addr, market, ledger = w["clients"], w["addr"], w["contracts"].market, w["ledger"]
    worker = w["worker"]
    await in_thread(c["operator"].register_participant, ParticipantCreate(name="Operator"))
    await in_thread(
        c["operator"].create_congestion_point, CongestionPointCreate(code=CP, name="Feeder")
    )
    now = int(ledger.chain_time())
    gate = (now // ISP_S + 10) * ISP_S
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate,
        delivery_end=gate + N_ISPS * ISP_S,
        isp_s=ISP_S,
        challenge_window_s=300,
    )
    sid = session.session_id
    await in_thread(c["operator"].create_session, session)
    await in_thread(worker.run_once)
    assert ledger.session(sid).state == SessionState.OPEN

    for fsp, station in STATIONS.items():
        await in_thread(c[fsp].register_participant, ParticipantCreate(name=fsp, ean_codes=[CP]))
        meter = station_address(public_key(station_key(station)))  # the CPO's, on-chain
        await in_thread(market.register_station, station, meter, sender=addr["cpo"])
        await in_thread(market.grant_station, station, addr[fsp], sender=addr["cpo"])
        await in_thread(
            c[fsp].register_asset,
            AssetCreate(
                asset_id=str(uuid.uuid4()),
                congestion_point=CP,
                station_id=station,
                evse_id=1,
                max_import_w=BASELINE_W,
                max_export_w=10_000,
                meter_public_key=public_key(station_key(station)),
            ),
        )
        await in_thread(
            c[fsp].post_prognosis,
            DPrognosis(
                prognosis_id=str(uuid.uuid4()),
                session_id=sid,
                fsp=addr[fsp],
                congestion_point=CP,
                isps=tuple(BaselineIsp(isp_index=i, power_w=BASELINE_W) for i in range(N_ISPS)),
            ),
        )
    req = FlexRequest(
        request_id=str(uuid.uuid4()),
        session_id=sid,
        congestion_point=CP,
        direction="UP",
        revision=1,
        expires_at=gate,
        max_price_per_mwh=400_000_000,
        budget_units=BUDGET,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=20_000)
            for i in range(N_ISPS)
        ),
    )
    await in_thread(
        market.post_request,
        uuid_to_bytes32(sid),
        uuid_to_bytes32(req.request_id),
        code_to_bytes32(CP),
        req.canonical_hash(),
        BUDGET,
        sender=addr["dso"],
    )
    await in_thread(c["dso"].post_request, req)
    for fsp, power, price in (("fsp_a", ORDER_A, PRICE_A), ("fsp_b", ORDER_B, PRICE_B)):
        offer = FlexOffer(
            offer_id=str(uuid.uuid4()),
            session_id=sid,
            fsp=addr[fsp],
            request_id=req.request_id,
            congestion_point=CP,
            direction="UP",
            expires_at=gate,
            options=(
                FlexOfferOption(
                    option_ref="full",
                    isps=tuple(IspPower(isp_index=i, power_w=power) for i in range(N_ISPS)),
                    price_per_mwh=price,
                    min_activation_ppm=1_000_000,
                ),
            ),
        )
        await in_thread(c[fsp].post_offer, offer)
        # through the participant library, which binds the prognosis, the portfolio posted
        # and the FSP's revenue-sharing contract (posted first: the commitment binds its set)
        account = ChainAccount(market, w["contracts"].token, addr[fsp])
        participant = Participant(c[fsp], account)
        await in_thread(participant.post_revenue_contract, revenue_contracts(w)[fsp])
        await in_thread(participant.commit_offers, [offer])
    return session


def revenue_contracts(w: dict[str, Any]) -> dict[str, SignedContract]:
    """Each FSP's contract with its EV user, signed by FSP, user and house (made once)."""
    if "signed_contracts" in w:
        return dict(w["signed_contracts"])
    addr, market, ledger = w["addr"], w["contracts"].market, w["ledger"]
    user_a, user_b = addr["user_a"].lower(), addr["user_b"].lower()
    contracts = {
        "fsp_a": RevenueShareContract(
            contract_id=str(uuid.uuid4()),
            fsp=addr["fsp_a"],
            ev_user=user_a,
            cpo=addr["house"],
            platform=addr["house"],
            user_incentive_mode="percent",
            user_incentive_ppm=INCENTIVE_A_PPM,
            cpo_fee_per_kwh_units=CPO_FEE_A_PER_KWH,
            platform_fee_ppm=PLATFORM_FEE_A_PPM,
            valid_from=0,
            valid_until=2**40,
        ),
        "fsp_b": RevenueShareContract(
            contract_id=str(uuid.uuid4()),
            fsp=addr["fsp_b"],
            ev_user=user_b,
            cpo=addr["house"],
            platform=addr["house"],
            user_incentive_mode="per_kwh",
            user_incentive_per_kwh_discharged_units=INCENTIVE_B_PER_KWH_DISCHARGED,
            valid_from=0,
            valid_until=2**40,
        ),
    }
    dom = {"chain_id": ledger.chain_id, "verifying_contract": market.address}
    k = w["keys"]
    w["signed_contracts"] = {
        fsp: SignedContract(
            contract=contracts[fsp],
            signatures=tuple(
                sign_contract(contracts[fsp], k[n], **dom) for n in (fsp, user, "house")
            ),
        )
        for fsp, user in (("fsp_a", "user_a"), ("fsp_b", "user_b"))
    }
    return dict(w["signed_contracts"])


async def post_revenue_sharing(
    w: dict[str, Any], sid: str, shifted_a_wh: int, discharged_b_wh: int
) -> None:
    """Each FSP's user's contribution (what the EV provided) under the contract it posted
    before committing, posted by the FSP."""
    c, addr, market = w["clients"], w["addr"], w["contracts"].market
    for fsp, user, wh in (
        ("fsp_a", "user_a", (shifted_a_wh, 0)),
        ("fsp_b", "user_b", (0, discharged_b_wh)),
    ):
        contribution = UserContribution(
            session_id=sid,
            fsp=addr[fsp],
            ev_user=addr[user],
            shifted_wh=wh[0],
            discharged_wh=wh[1],
        )
        await in_thread(c[fsp].post_contributions, sid, [contribution])
        # On-chain, the FSP names who its netting may pay: its contract's parties and the DSO.
        payees = [addr[user], addr["house"], addr["dso"]]
        await in_thread(market.name_netting_payees, payees, sender=addr[fsp])


def cpo_vouches(w: dict[str, Any], sid: str, stations: tuple[str, ...] = ("ST-A", "ST-B")) -> int:
    """The stations' CPO signs, per station and ISP, digests of the readings its CSMS received
    (the service's sink stored them as they came) and posts them, as every session's terms
    require; returns how many were stored."""
    from sqlmodel import Session, col, select

    from clearing.readings_digest import cpo_digests
    from clearing.settlement.delivery import required_reading_window
    from clearing.terms import SessionTerms
    from clearing.trust import secp256k1_key
    from market.clearing_house.verification import readings_from_rows
    from market.store import models as m

    rt, ledger = w["rt"], w["ledger"]
    terms = SessionTerms.model_validate_json(rt.bundles.get(sid, "terms"))
    with Session(rt.engine) as db:
        rows = db.exec(select(m.MeterReading).where(col(m.MeterReading.station_id).in_(stations)))
        received = readings_from_rows(rows, from_ts=0, to_ts=2**62)
    digests = cpo_digests(
        session_id=sid,
        readings=received,
        stations=set(stations),
        window=required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end),
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        key=secp256k1_key(w["keys"]["cpo"]),
        domain=(ledger.chain_id, ledger.market_address),
    )
    return int(w["clients"]["cpo"].post_readings_digests(sid, digests)["stored"])
