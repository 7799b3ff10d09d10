"""Acceptance 4 + 5 end to end: real anvil, the real service over HTTP, the OCPP simulator over
websockets, the lifecycle worker with the service's default settlement wiring.

Two FSPs with one V2G EV each on simulated OCPP 2.1 stations. FSP B's station ignores its
profile from halfway through delivery (non-delivery, penalised). FSP A's station goes offline
one ISP into delivery and only reconnects after the oracle attested, so its later ISPs are
unverifiable; A disputes inside the window with its station's signed readings, the arbiter
resolves with corrected payouts, the session is FINAL and the clearing house nets revenue
sharing. Every expected amount is computed here from the rules, not by the settlement code.

Time: 60 s ISPs, 12 s meter interval, a step clock for the stations, anvil warped in step.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from coincurve import PrivateKey
from eth_account import Account
from eth_utils import keccak
from typer.testing import CliRunner

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import deploy_market
from adapters.chain.errors import ContractRevert
from adapters.chain.toolchain import compile_contracts
from adapters.chain.types import SessionState
from adapters.ocpp.csms import Csms
from adapters.ocpp.dispatch import IspSetpoint
from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from clearing.encoding import code_to_bytes32, hex32, keccak256, uuid_to_bytes32
from clearing.messages import (
    BaselineIsp,
    DPrognosis,
    FlexOffer,
    FlexOfferOption,
    FlexOrder,
    FlexRequest,
    IspPower,
    RequestIsp,
)
from clearing.settlement.delivery import recompute_report
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.revenue import RevenueShareContract, UserContribution, sign_contract
from clearing.settlement.rules import SettlementRules
from market.api.schemas import AssetCreate, CongestionPointCreate, ParticipantCreate, SessionCreate
from market.clearing_house.period import SignedContract
from market.cli import app as cli_app
from market.client import ApiError, MarketClient, offer_commitment
from market.ledger import Ledger
from market.lifecycle.worker import Worker, step_history
from market.metering import store_sink
from market.runtime import ChainClock, attach_settlement, build_runtime
from market.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

CP = "EAN-E2E-0001"
ISP_S, N_ISPS, METER_S = 60, 4, 12
BASELINE_W = 11_100  # the EVs' unmanaged charging power (both FSPs nominate it)
SETPOINT_A, SETPOINT_B = 6_000, -3_000  # A charges slower, B discharges (V2G)
ORDER_A, ORDER_B = BASELINE_W - SETPOINT_A, BASELINE_W - SETPOINT_B  # 5 100 W, 14 100 W
PRICE_A, PRICE_B = 100_000_000, 200_000_000  # token units per MWh
BUDGET = 1_000_000
TOLERANCE_PPM, PENALTY_PPM = 50_000, 1_000_000
RULES = SettlementRules(isp_s=ISP_S, max_gap_s=30, delivery_tolerance_ppm=TOLERANCE_PPM)
NAMES = ("operator", "dso", "fsp_a", "fsp_b", "oracle", "arbiter", "house", "user_a", "user_b")


class StepClock:
    """Station time that moves only when set (every reading lands on the 12 s grid)."""

    def __init__(self, start: int) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def now(self) -> float:
        return float(self._now)

    async def sleep(self, seconds: float) -> None:
        target = self._now + max(0.0, seconds)
        while self._now < target:
            await self._moved.wait()

    def set(self, t: int) -> None:
        self._now = t
        event, self._moved = self._moved, asyncio.Event()
        event.set()


# ---- hand-computed settlement (ISP energy floors to Wh, payments floor to units) -----------


def energy_wh(power_w: int) -> int:
    return power_w * ISP_S // 3600


def pay(wh: int, price: int) -> int:
    return wh * price // 1_000_000


def expected_payout(order_w: int, price: int, delivered_isps: int) -> int:
    """Full ISPs are paid; the others (not delivered or unverifiable) credit 0 and are
    penalised for the deficiency beyond tolerance, capped at the order's value."""
    tolerance_w = order_w * TOLERANCE_PPM // 1_000_000
    paid = pay(delivered_isps * energy_wh(order_w), price)
    missing = N_ISPS - delivered_isps
    penalty = pay(missing * energy_wh(order_w - tolerance_w), price) * PENALTY_PPM // 1_000_000
    penalty = min(penalty, pay(N_ISPS * energy_wh(order_w), price))
    return max(paid - penalty, 0)


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict]:
    tmp: Path = tmp_path_factory.mktemp("settlement_e2e")
    with AnvilNode(accounts=10) as node:
        keys = dict(zip(NAMES, node.private_keys, strict=False))
        client = ChainClient(
            node.rpc_url, private_keys=keys.values(), artifacts=compile_contracts()
        )
        addr = {n: client.add_account(k) for n, k in keys.items()}
        contracts = deploy_market(client, deployer=addr["operator"])
        market, op = contracts.market, addr["operator"]
        for name, role in (
            ("dso", "DSO"),
            ("fsp_a", "FSP"),
            ("fsp_b", "FSP"),
            ("oracle", "METER_ORACLE"),
            ("arbiter", "ARBITER"),
            ("house", "CLEARING_HOUSE"),
        ):
            market.register_participant(
                addr[name], keccak(text=name), [market.role(role)], sender=op
            )
        contracts.token.mint(addr["dso"], 10 * BUDGET, sender=op)
        contracts.token.approve(market.address, 2**255, sender=addr["dso"])
        ledger = Ledger(client, market, operator=op)
        settings = Settings(
            database_url=f"sqlite:///{tmp}/market.db",
            bundle_dir=tmp / "bundles",
            role_cache_ttl_s=0.0,
            token_secret="e2e-secret",
            oracle_key=keys["oracle"],
            clearing_house_key=keys["house"],
            fee_recipient=addr["house"],
            settlement_rules=RULES.to_json_obj(),
        )
        rt = build_runtime(settings, ledger=ledger, clock=ChainClock(ledger))
        worker = Worker(
            engine=rt.engine,
            ledger=ledger,
            bundles=rt.bundles,
            clock=rt.core.clock,
            meter_grace_s=30,
        )
        attach_settlement(worker, settings, ledger=ledger)  # what serve/worker do by default
        server = uvicorn.Server(
            uvicorn.Config(rt.app(), host="127.0.0.1", port=0, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        clients = {n: MarketClient(url, keys[n], now=rt.core.clock.now) for n in NAMES}
        yield {
            "node": node,
            "client": client,
            "contracts": contracts,
            "keys": keys,
            "addr": addr,
            "ledger": ledger,
            "rt": rt,
            "worker": worker,
            "clients": clients,
            "url": url,
            "deployment_file": contracts.deployment.save(tmp / "deployment.json"),
        }
        server.should_exit = True
        thread.join(timeout=10)
        rt.engine.dispose()


def _station_key(name: str) -> str:
    return "0x" + keccak(text=f"station:{name}").hex()


def _pubkey(private: str) -> str:
    return "0x" + PrivateKey(bytes.fromhex(private[2:])).public_key.format(compressed=False).hex()


async def _advance(clock: StepClock, fleet: StationFleet, t: int, timeout_s: float = 30) -> None:
    clock.set(t)
    floor = t // METER_S * METER_S
    deadline = time.monotonic() + timeout_s
    while not all(st.t >= floor and st._sleeping for st in fleet.stations.values()):
        assert time.monotonic() < deadline, f"stations did not reach {t} within {timeout_s} s"
        await asyncio.sleep(0.005)


def _run(fn, *args, **kw):
    return asyncio.to_thread(fn, *args, **kw)


async def test_settlement_end_to_end(world) -> None:
    w = world
    c, addr, market, ledger = w["clients"], w["addr"], w["contracts"].market, w["ledger"]
    token, worker, rt, node = w["contracts"].token, w["worker"], w["rt"], w["node"]
    # ---- market set-up over HTTP -----------------------------------------------------------
    await _run(c["operator"].register_participant, ParticipantCreate(name="Operator"))
    await _run(c["operator"].create_congestion_point, CongestionPointCreate(code=CP, name="Feeder"))
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
    sid, start, end = session.session_id, session.delivery_start, session.delivery_end
    await _run(c["operator"].create_session, session)
    await _run(worker.run_once)
    assert ledger.session(sid).state == SessionState.OPEN

    stations = {"fsp_a": "ST-A", "fsp_b": "ST-B"}
    for fsp, station in stations.items():
        await _run(c[fsp].register_participant, ParticipantCreate(name=fsp, ean_codes=[CP]))
        await _run(
            c[fsp].register_asset,
            AssetCreate(
                asset_id=str(uuid.uuid4()),
                congestion_point=CP,
                station_id=station,
                evse_id=1,
                max_import_w=BASELINE_W,
                max_export_w=10_000,
                meter_public_key=_pubkey(_station_key(station)),
            ),
        )
        await _run(
            c[fsp].post_prognosis,
            DPrognosis(
                prognosis_id=str(uuid.uuid4()),
                session_id=sid,
                fsp=addr[fsp],
                congestion_point=CP,
                isps=[BaselineIsp(isp_index=i, power_w=BASELINE_W) for i in range(N_ISPS)],
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
        isps=[
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=20_000)
            for i in range(N_ISPS)
        ],
    )
    await _run(
        market.post_request,
        uuid_to_bytes32(sid),
        uuid_to_bytes32(req.request_id),
        code_to_bytes32(CP),
        req.canonical_hash(),
        BUDGET,
        sender=addr["dso"],
    )
    await _run(c["dso"].post_request, req)
    for fsp, power, price in (("fsp_a", ORDER_A, PRICE_A), ("fsp_b", ORDER_B, PRICE_B)):
        offer = FlexOffer(
            offer_id=str(uuid.uuid4()),
            session_id=sid,
            fsp=addr[fsp],
            request_id=req.request_id,
            congestion_point=CP,
            direction="UP",
            expires_at=gate,
            options=[
                FlexOfferOption(
                    option_ref="full",
                    isps=[IspPower(isp_index=i, power_w=power) for i in range(N_ISPS)],
                    price_per_mwh=price,
                    min_activation_ppm=1_000_000,
                )
            ],
        )
        await _run(c[fsp].post_offer, offer)
        root, count = offer_commitment([offer])
        await _run(market.commit_offers, uuid_to_bytes32(sid), root, count, sender=addr[fsp])

    # ---- stations up, gate closure, clearing ------------------------------------------------
    clock = StepClock(start - 2 * ISP_S)
    specs = [
        StationSpec(
            station_id=station,
            password=f"pw-{station}",
            protocol="ocpp2.1",
            evses=[
                EvseSpec(
                    evse_id=1,
                    max_power_w=BASELINE_W,
                    ev=EvModel(
                        battery_wh=100_000,
                        soc_pct=50.0,
                        max_charge_w=BASELINE_W,
                        max_discharge_w=10_000,
                        arrival_unix=start - 3600,
                        departure_unix=end + 3600,
                        round_trip_efficiency=1.0,
                    ),
                )
            ],
            private_key=bytes.fromhex(_station_key(station)[2:]),
            faults=StationFaults(
                # A's station goes offline after its reading at the end of ISP 0 and comes back
                # long after the oracle attested; its queued signed readings arrive then.
                drop_at_unix=start + ISP_S if station == "ST-A" else None,
                drop_for_s=20 * ISP_S,
                lose_profiles_on_drop=False,
            ),
        )
        for station in stations.values()
    ]
    csms = Csms(
        credentials={s.station_id: s.password for s in specs},
        sink=store_sink(rt.engine),
        clock=clock,
        meter_interval_s=METER_S,
        call_timeout_s=30.0,
    )
    await csms.start()
    fleet = StationFleet(
        csms.url, specs, clock=clock, meter_interval_s=METER_S, call_timeout_s=30.0
    )
    try:
        await fleet.start(timeout_s=60.0)
        await _advance(clock, fleet, start - ISP_S)
        await _run(node.warp_to, gate + 1)
        await _run(worker.run_once)
        assert ledger.session(sid).state == SessionState.CLEARED
        orders = {
            o["fsp"]: FlexOrder.model_validate(o) for o in await _run(c["operator"].orders, sid)
        }
        assert {f: [i.power_w for i in o.isps] for f, o in orders.items()} == {
            addr["fsp_a"].lower(): [ORDER_A] * N_ISPS,
            addr["fsp_b"].lower(): [ORDER_B] * N_ISPS,
        }

        # ---- dispatch over OCPP; B's station ignores its profile from halfway -----------------
        def schedule(setpoint: int) -> list[IspSetpoint]:
            return [IspSetpoint(start + i * ISP_S, ISP_S, setpoint) for i in range(N_ISPS)]

        plan = {("ST-A", 1): schedule(SETPOINT_A), ("ST-B", 1): schedule(SETPOINT_B)}
        result = await csms.dispatcher.dispatch(plan)
        assert all(isps[0].confirmed for isps in result.values()), result
        half = start + (N_ISPS // 2) * ISP_S
        for t in range(start - ISP_S + METER_S, end + 2 * ISP_S + 1, METER_S):
            await _advance(clock, fleet, t)
            if t == half:
                fleet["ST-B"].faults.ignore_profiles = True
                await csms.dispatcher.dispatch({("ST-B", 1): schedule(SETPOINT_B)})
        await csms.sink.flush()  # type: ignore[attr-defined]

        # ---- users' contributions (what each EV provided), posted by its FSP --------------------
        user_a, user_b = addr["user_a"].lower(), addr["user_b"].lower()
        shifted_a = N_ISPS * energy_wh(ORDER_A)
        discharged_b = (N_ISPS // 2) * energy_wh(-SETPOINT_B)
        contracts = {
            "fsp_a": RevenueShareContract(
                contract_id=str(uuid.uuid4()),
                fsp=addr["fsp_a"],
                ev_user=user_a,
                cpo=addr["house"],
                platform=addr["house"],
                user_incentive_mode="percent",
                user_incentive_ppm=100_000,
                cpo_fee_per_kwh_units=1_000,
                platform_fee_ppm=10_000,
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
                user_incentive_per_kwh_discharged_units=10_000,
                valid_from=0,
                valid_until=2**40,
            ),
        }
        dom = {"chain_id": ledger.chain_id, "verifying_contract": market.address}
        for fsp, user, wh in (
            ("fsp_a", "user_a", (shifted_a, 0)),
            ("fsp_b", "user_b", (0, discharged_b)),
        ):
            k = w["keys"]
            sigs = tuple(sign_contract(contracts[fsp], k[n], **dom) for n in (fsp, user, "house"))
            await _run(
                c[fsp].post_revenue_contract,
                SignedContract(contract=contracts[fsp], signatures=sigs),
            )
            contribution = UserContribution(
                session_id=sid,
                fsp=addr[fsp],
                ev_user=addr[user],
                shifted_wh=wh[0],
                discharged_wh=wh[1],
            )
            await _run(c[fsp].post_contributions, sid, [contribution])

        # ---- verification: the service's oracle attests after delivery + grace ---------------
        await _run(node.warp_to, end + 31)
        await _run(worker.run_once)
        assert ledger.session(sid).state == SessionState.VERIFIED
        assert (await _run(c["operator"].session, sid))["state"] == "VERIFIED"
        reservations = ledger.clearing(sid).reservations
        fsp_of = [r.fsp.lower() for r in reservations]

        def payouts_by_fsp() -> dict[str, int]:
            return dict(zip(fsp_of, ledger.payouts(sid).payouts, strict=True))

        a_attested = expected_payout(ORDER_A, PRICE_A, delivered_isps=1)  # offline after ISP 0
        b_final = expected_payout(ORDER_B, PRICE_B, delivered_isps=2)  # ignored from halfway
        assert payouts_by_fsp() == {
            addr["fsp_a"].lower(): a_attested,
            addr["fsp_b"].lower(): b_final,
        }

        # Acceptance 5: the published bundle's root is the on-chain deliveryRoot, and clearing
        # recomputes the report from it byte for byte.
        bundle = await _run(c["operator"].bundle, sid, "delivery")
        obj = json.loads(bundle)
        attested_root = ledger.session_events("DeliveryAttested", sid)[0].args["deliveryRoot"]
        assert obj["report"]["root"] == hex32(bytes(attested_root))
        station_keys = {
            s: Account.from_key(_station_key(s)).address.lower() for s in stations.values()
        }
        recomputed = recompute_report(bundle, list(orders.values()), RULES, station_keys)
        assert (
            recomputed == json.dumps(obj["report"], sort_keys=True, separators=(",", ":")).encode()
        )

        # Attesting twice: the worker's step is done, the chain refuses a second attestation.
        with pytest.raises(ContractRevert, match="FlexMarketNotInState"):
            await _run(
                market.attest_delivery,
                uuid_to_bytes32(sid),
                b"\x01" * 32,
                [0, 0],
                sender=addr["oracle"],
            )

        # ---- dispute inside the window with A's own signed readings ---------------------------
        await _advance(
            clock, fleet, start + 22 * ISP_S
        )  # A's station reconnects, flushes its queue
        await csms.sink.flush()  # type: ignore[attr-defined]
        rows = await _run(c["fsp_a"].meter_readings, "ST-A")
        evidence = [
            SignedMeterReading(
                station=r["station_id"],
                evse=r["evse_id"],
                timestamp=r["timestamp"],
                import_wh=r["import_wh"],
                export_wh=r["export_wh"],
                signature=r["signature"],
            )
            for r in rows
            if start + ISP_S < r["timestamp"] <= end + ISP_S
        ]
        assert evidence, "A's queued readings did not arrive"
        await _run(
            market.dispute, uuid_to_bytes32(sid), keccak256(b"meter offline"), sender=addr["fsp_a"]
        )
        await _run(c["fsp_a"].post_dispute_evidence, sid, evidence, reason="meter offline")
        await _run(worker.run_once)
        assert (await _run(c["operator"].session, sid))["state"] == "DISPUTED"
        # The arbiter resolves through the CLI: a separate chain connection with its own key.
        env = {
            "FLEXMARKET_DATABASE_URL": rt.settings.database_url,
            "FLEXMARKET_BUNDLE_DIR": str(rt.settings.bundle_dir),
            "FLEXMARKET_RPC_URL": node.rpc_url,
            "FLEXMARKET_DEPLOYMENT_FILE": str(w["deployment_file"]),
            "FLEXMARKET_ARBITER_KEY": w["keys"]["arbiter"],
            "FLEXMARKET_TOKEN_SECRET": "e2e-secret",
        }
        cli = await _run(CliRunner().invoke, cli_app, ["arbiter", "resolve", sid], env=env)
        assert cli.exit_code == 0, (cli.output, cli.exception)
        resolved = json.loads(cli.output)
        assert resolved["action"] == "resolved"
        a_final = expected_payout(ORDER_A, PRICE_A, delivered_isps=N_ISPS)
        assert payouts_by_fsp() == {addr["fsp_a"].lower(): a_final, addr["fsp_b"].lower(): b_final}
        assert ledger.session(sid).state == SessionState.FINAL
        corrected = await _run(c["fsp_a"].resolution_bundle, sid)
        assert json.loads(corrected)["report"]["root"] == hex32(ledger.payouts(sid).delivery_root)

        # ---- worker: FINAL + the clearing house nets revenue sharing ---------------------------
        await _run(worker.run_once)
        assert (await _run(c["operator"].session, sid))["state"] == "FINAL"
        history = {h["step"]: h for h in step_history(rt.engine, sid)}
        assert "clearing house: settled" in history["clearing"]["detail"], history
        # A dispute after the window / on a final session is refused.
        with pytest.raises(ContractRevert, match="FlexMarketNotInState"):
            await _run(market.dispute, uuid_to_bytes32(sid), b"\x09" * 32, sender=addr["fsp_b"])
        with pytest.raises(ApiError) as err:
            await _run(c["fsp_b"].post_dispute_evidence, sid, [])
        assert err.value.status == 409

        incentive_a = a_final * 100_000 // 1_000_000
        cpo_fee_a = shifted_a * 1_000 // 1000
        platform_a = a_final * 10_000 // 1_000_000
        incentive_b = discharged_b * 10_000 // 1000
        expected_credit = {
            "fsp_a": a_final - incentive_a - cpo_fee_a - platform_a,
            "fsp_b": b_final - incentive_b,
            "dso": BUDGET - a_final - b_final,  # the refund
            "user_a": incentive_a,
            "user_b": incentive_b,
            "house": cpo_fee_a + platform_a,
        }
        assert {n: market.credits(addr[n]) for n in expected_credit} == expected_credit

        # Users' incentives appear in their statements (SIWE, own only).
        for n, user in (("user_a", user_a), ("user_b", user_b)):
            await _run(c[n].sign_in)
            st = await _run(c[n].statement, sid)
            assert st["participant"] == user
            assert [ln["kind"] for ln in st["lines"]] == ["user_incentive"]
            assert st["receivable_units"] == expected_credit[n]
            earned = await _run(c[n].earnings, sid)
            assert [e["incentive_units"] for e in earned] == [expected_credit[n]]
        await _run(c["fsp_a"].sign_in)
        assert "FlexSettlement" in await _run(c["fsp_a"].statement, sid, fmt="xml")
        with pytest.raises(ApiError) as err:
            await _run(c["user_a"].statement, sid, participant=addr["fsp_a"])
        assert err.value.status == 403

        # Every party's withdraw moves exactly its credited tokens.
        for n, credit in expected_credit.items():
            before = token.balance_of(addr[n])
            await _run(market.withdraw, sender=addr[n])
            assert token.balance_of(addr[n]) - before == credit, n
            assert market.credits(addr[n]) == 0
        with pytest.raises(ContractRevert, match="FlexMarketNothingToWithdraw"):
            await _run(market.withdraw, sender=addr["fsp_a"])
    finally:
        await fleet.stop()
        await csms.stop()
