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

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from settlement_e2e_kit import (
    BUDGET,
    CPO_FEE_A_PER_KWH,
    INCENTIVE_A_PPM,
    INCENTIVE_B_PER_KWH_DISCHARGED,
    ISP_S,
    METER_S,
    N_ISPS,
    ORDER_A,
    ORDER_B,
    PLATFORM_FEE_A_PPM,
    PRICE_A,
    PRICE_B,
    RULES,
    SETPOINT_A,
    SETPOINT_B,
    STATIONS,
    StepClock,
    energy_wh,
    expected_payout,
    in_thread,
    station_key,
)
from settlement_e2e_market import cpo_vouches, open_session, post_revenue_sharing
from settlement_e2e_world import advance, settlement_world, station_fleet
from typer.testing import CliRunner

from adapters.chain.errors import ContractRevert
from adapters.chain.types import SessionState
from adapters.ocpp.orders import IspSetpoint
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.messages import FlexOrder
from clearing.settlement.delivery import recompute_report
from clearing.settlement.meter import SignedMeterReading
from market.cli import app as cli_app
from market.client import ApiError
from market.lifecycle.worker import step_history

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with settlement_world(tmp_path_factory.mktemp("settlement_e2e")) as w:
        yield w


async def test_settlement_end_to_end(world: dict[str, Any]) -> None:
    w = world
    c, addr, market, ledger = w["clients"], w["addr"], w["contracts"].market, w["ledger"]
    token, worker, rt, node = w["contracts"].token, w["worker"], w["rt"], w["node"]
    session = await open_session(w)
    sid, start, end = session.session_id, session.delivery_start, session.delivery_end
    gate = session.gate_closure

    # ---- stations up, gate closure, clearing ------------------------------------------------
    clock = StepClock(start - 2 * ISP_S)
    async with station_fleet(rt, clock, start, end) as (csms, fleet):
        await advance(clock, fleet, start - ISP_S)
        await in_thread(node.warp_to, gate + 1)
        await in_thread(worker.run_once)
        assert ledger.session(sid).state == SessionState.CLEARED
        orders = {
            o["fsp"]: FlexOrder.model_validate(o)
            for o in await in_thread(c["operator"].orders, sid)
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
            await advance(clock, fleet, t)
            if t == half:
                fleet["ST-B"].faults.ignore_profiles = True
                await csms.dispatcher.dispatch({("ST-B", 1): schedule(SETPOINT_B)})
        await csms.sink.flush()  # type: ignore[attr-defined]

        # ---- users' contributions (what each EV provided), posted by its FSP --------------------
        user_a, user_b = addr["user_a"].lower(), addr["user_b"].lower()
        shifted_a = N_ISPS * energy_wh(ORDER_A)
        discharged_b = (N_ISPS // 2) * energy_wh(-SETPOINT_B)
        await post_revenue_sharing(w, sid, shifted_a, discharged_b)

        # ---- verification: the service's oracle attests after delivery + grace ---------------
        await in_thread(node.warp_to, end + 31)
        assert await in_thread(cpo_vouches, w, sid) > 0  # the stations' CPO signs its digests
        await in_thread(worker.run_once)
        assert ledger.session(sid).state == SessionState.VERIFIED
        assert (await in_thread(c["operator"].session, sid))["state"] == "VERIFIED"
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
        bundle = await in_thread(c["operator"].bundle, sid, "delivery")
        obj = json.loads(bundle)
        attested_root = ledger.session_events("DeliveryAttested", sid)[0].args["deliveryRoot"]
        assert obj["report"]["root"] == hex32(bytes(attested_root))
        station_keys = {
            s: Account.from_key(station_key(s)).address.lower() for s in STATIONS.values()
        }
        recomputed = recompute_report(bundle, list(orders.values()), RULES, station_keys)
        assert (
            recomputed == json.dumps(obj["report"], sort_keys=True, separators=(",", ":")).encode()
        )

        # Attesting twice: the worker's step is done, the chain refuses a second attestation.
        with pytest.raises(ContractRevert, match="FlexMarketNotInState"):
            await in_thread(
                market.attest_delivery,
                uuid_to_bytes32(sid),
                b"\x01" * 32,
                [0, 0],
                sender=addr["oracle"],
            )

        # ---- dispute inside the window with A's own signed readings ---------------------------
        await advance(clock, fleet, start + 22 * ISP_S)  # A's station reconnects, flushes its queue
        await csms.sink.flush()  # type: ignore[attr-defined]
        rows = await in_thread(c["fsp_a"].meter_readings, "ST-A")
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
        await in_thread(
            market.dispute, uuid_to_bytes32(sid), keccak256(b"meter offline"), sender=addr["fsp_a"]
        )
        await in_thread(c["fsp_a"].post_dispute_evidence, sid, evidence, reason="meter offline")
        await in_thread(worker.run_once)
        assert (await in_thread(c["operator"].session, sid))["state"] == "DISPUTED"
        # The arbiter resolves through the CLI: a separate chain connection with its own key.
        env = {
            "FLEXMARKET_DATABASE_URL": rt.settings.database_url,
            "FLEXMARKET_BUNDLE_DIR": str(rt.settings.bundle_dir),
            "FLEXMARKET_RPC_URL": node.rpc_url,
            "FLEXMARKET_DEPLOYMENT_FILE": str(w["deployment_file"]),
            "FLEXMARKET_ARBITER_KEY": w["keys"]["arbiter"],
            "FLEXMARKET_TOKEN_SECRET": "e2e-secret",
        }
        cli = await in_thread(CliRunner().invoke, cli_app, ["arbiter", "resolve", sid], env=env)
        assert cli.exit_code == 0, (cli.output, cli.exception)
        resolved = json.loads(cli.output)
        assert resolved["action"] == "resolved"
        a_final = expected_payout(ORDER_A, PRICE_A, delivered_isps=N_ISPS)
        assert payouts_by_fsp() == {addr["fsp_a"].lower(): a_final, addr["fsp_b"].lower(): b_final}
        assert ledger.session(sid).state == SessionState.FINAL
        corrected = await in_thread(c["fsp_a"].resolution_bundle, sid)
        assert json.loads(corrected)["report"]["root"] == hex32(ledger.payouts(sid).delivery_root)

        # ---- worker: FINAL + the clearing house nets revenue sharing ---------------------------
        await in_thread(worker.run_once)
        assert (await in_thread(c["operator"].session, sid))["state"] == "FINAL"
        history = {h["step"]: h for h in step_history(rt.engine, sid)}
        assert "clearing house: settled" in history["clearing"]["detail"], history
        # A dispute after the window / on a final session is refused.
        with pytest.raises(ContractRevert, match="FlexMarketNotInState"):
            await in_thread(
                market.dispute, uuid_to_bytes32(sid), b"\x09" * 32, sender=addr["fsp_b"]
            )
        with pytest.raises(ApiError) as err:
            await in_thread(c["fsp_b"].post_dispute_evidence, sid, [])
        assert err.value.status == 409

        incentive_a = a_final * INCENTIVE_A_PPM // 1_000_000
        cpo_fee_a = shifted_a * CPO_FEE_A_PER_KWH // 1000
        platform_a = a_final * PLATFORM_FEE_A_PPM // 1_000_000
        incentive_b = discharged_b * INCENTIVE_B_PER_KWH_DISCHARGED // 1000
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
            await in_thread(c[n].sign_in)
            st = await in_thread(c[n].statement, sid)
            assert st["participant"] == user
            assert [ln["kind"] for ln in st["lines"]] == ["user_incentive"]
            assert st["receivable_units"] == expected_credit[n]
            earned = await in_thread(c[n].earnings, sid)
            assert [e["incentive_units"] for e in earned] == [expected_credit[n]]
        await in_thread(c["fsp_a"].sign_in)
        assert "FlexSettlement" in await in_thread(c["fsp_a"].statement, sid, fmt="xml")
        with pytest.raises(ApiError) as err:
            await in_thread(c["user_a"].statement, sid, participant=addr["fsp_a"])
        assert err.value.status == 403

        # Every party's withdraw moves exactly its credited tokens.
        for n, credit in expected_credit.items():
            before = token.balance_of(addr[n])
            await in_thread(market.withdraw, sender=addr[n])
            assert token.balance_of(addr[n]) - before == credit, n
            assert market.credits(addr[n]) == 0
        with pytest.raises(ContractRevert, match="FlexMarketNothingToWithdraw"):
            await in_thread(market.withdraw, sender=addr["fsp_a"])
