"""``flexmarket fsp run`` end to end, and the acceptance test: a gateway killed with SIGKILL
mid-delivery and restarted loses and duplicates no reading, and its payouts equal those of an
uninterrupted run of the same session.

Each run: the market on the shared anvil, a DSO request, the gateway as a subprocess with
``clock: chain``, two OCPP 2.1 stations over websockets to its CSMS. The gateway bids (commit
then submit), the worker clears, the gateway verifies its orders against the on-chain root,
dispatches charging profiles and acknowledges, relays the station-signed readings; the oracle
attests, the session goes FINAL, the gateway withdraws and writes the EV users' statements.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fsp_world import (
    ISP_S,
    METER_S,
    ROOT,
    STATIONS,
    USERS,
    Gateway,
    StepClock,
    gateway_config,
    give_consent,
    market,
    open_session,
    station_specs,
    warp_past_challenge_window,
)

from adapters.chain.types import SessionState
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ports import free_port
from market.lifecycle.worker import step_history

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass
class Outcome:
    start: int
    payout_units: int
    orders_w: list[list[int]]
    readings: dict[str, list[tuple[int, int, int]]]  # station -> (ts - start, import, export)
    shares: dict[str, int]
    withdrawn_units: int
    events: list[dict[str, Any]]
    pending_at_kill: int
    clearing: str  # the market's clearing step: "<status>: <detail>" ("" when not netting)
    dso_named: bool  # the FSP named the session's DSO as a netting payee on-chain
    sharing_pending: list[str]  # GET /status: sessions whose revenue sharing is not posted


async def _advance(clock: StepClock, fleet: StationFleet, t: int, timeout_s: float = 60) -> None:
    """Move station time to ``t``; wait until every station sampled and sent up to it."""
    clock.set(t)
    floor = t // METER_S * METER_S
    deadline = time.monotonic() + timeout_s
    while not all(st.t >= floor and st._sleeping for st in fleet.stations.values()):
        assert time.monotonic() < deadline, f"stations did not reach {t} within {timeout_s} s"
        await asyncio.sleep(0.005)


def _token(config: Path, user: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "market.cli", "fsp", "token", "--config", str(config)]
    out = subprocess.run(
        [*cmd, "--user", user], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


async def run_session(chain: Any, tmp: Path, *, kill: bool, nets: bool = False) -> Outcome:
    """One session through the gateway; with ``kill``, SIGKILL it mid-delivery and restart;
    with ``nets``, the market nets (its operator holds CLEARING_HOUSE, as on the embedded
    chain) and the gateway, which has no ``netting`` section, must wait for the netting."""
    tmp.mkdir(parents=True, exist_ok=True)
    node, fsp = chain.node, chain.addresses["fsp_a"].lower()
    if nets:
        op, market_contract = chain.addresses["operator"], chain.contracts.market
        market_contract.grant_role(market_contract.role("CLEARING_HOUSE"), op, sender=op)
    with market(chain, tmp) as m:
        session = await asyncio.to_thread(open_session, m, chain, chain.keys["fsp_a"])
        sid, start, end = session.session_id, session.delivery_start, session.delivery_end
        api_port = free_port()
        config = gateway_config(m, chain, tmp, free_port(), api_port)
        tokens = {u: await asyncio.to_thread(_token, config, u) for u in USERS}
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        await asyncio.to_thread(gw.start)
        for user, token in tokens.items():  # no EV user's EV is bid without consent
            await asyncio.to_thread(give_consent, api_port, user, token)
        t0 = start - 5 * ISP_S
        await asyncio.to_thread(node.warp_to, t0)
        clock = StepClock(t0)
        csms_url = f"ws://127.0.0.1:{config_port(config)}"
        fleet = StationFleet(
            csms_url,
            station_specs(start, end),
            clock=clock,
            meter_interval_s=METER_S,
            call_timeout_s=30.0,
        )
        try:
            await fleet.start(timeout_s=60.0)
            await _advance(clock, fleet, t0 + METER_S)
            await asyncio.to_thread(
                gw.wait, lambda s: s["offers_submitted"] == 1, what="offers", timeout_s=120
            )
            # gate closure: the worker closes and clears; the gateway checks and dispatches
            await asyncio.to_thread(node.warp_to, start + 1)
            await asyncio.to_thread(m.worker.run_once)
            assert m.rt.ledger.session(sid).state == SessionState.CLEARED
            st = await asyncio.to_thread(
                gw.wait,
                lambda s: s["orders"]["acked"] >= 1 and s["orders"]["dispatched"] >= 1,
                what="orders verified, dispatched and acknowledged",
            )
            assert st["orders"]["rejected"] == 0
            await asyncio.to_thread(m.worker.run_once)  # every order acknowledged: DELIVERING
            assert (await asyncio.to_thread(m.op.session, sid))["state"] == "DELIVERING"
            killed_at = start + 2 * ISP_S + METER_S
            pending_at_kill = 0
            for t in range(start + METER_S, end + ISP_S + 1, METER_S):
                await asyncio.to_thread(node.warp_to, t)
                await _advance(clock, fleet, t)
                if kill and t == killed_at:
                    # the stations' latest readings are acknowledged, not all relayed yet
                    at_kill = await asyncio.to_thread(gw.status)
                    assert at_kill is not None
                    pending_at_kill = at_kill["outbox"]["pending"]
                    await asyncio.to_thread(gw.kill)
                    await asyncio.to_thread(gw.start)
            await asyncio.to_thread(
                gw.wait,
                lambda s: (
                    s["outbox"]["pending"] == 0
                    and all(s["last_reading"].get(x, 0) >= end + ISP_S for x in STATIONS)
                ),
                what="every reading relayed",
            )
            # verification after the meter grace, FINAL after the challenge window
            await asyncio.to_thread(node.warp_to, end + ISP_S + 31)
            await asyncio.to_thread(gw.wait_digests, sid)  # the CPO vouches for the readings
            await asyncio.to_thread(m.worker.run_once)
            assert m.rt.ledger.session(sid).state == SessionState.VERIFIED
            await asyncio.to_thread(warp_past_challenge_window, m, node, sid)
            await asyncio.to_thread(m.worker.run_once)
            assert m.rt.ledger.session(sid).state == SessionState.FINAL
            st = await asyncio.to_thread(
                gw.wait,
                lambda s: s["sessions"].get(sid) == "FINAL" and _settled(gw, sid),
                what="withdrawal and statements",
            )
            reservations = m.rt.ledger.clearing(sid).reservations
            payouts = m.rt.ledger.payouts(sid).payouts
            payout = sum(
                int(p) for r, p in zip(reservations, payouts, strict=True) if r.fsp.lower() == fsp
            )
            orders = await asyncio.to_thread(m.op.orders, sid)
            readings: dict[str, list[tuple[int, int, int]]] = {}
            for station in STATIONS:
                rows = await asyncio.to_thread(m.op.meter_readings, station)
                readings[station] = sorted(
                    (r["timestamp"] - start, r["import_wh"], r["export_wh"])
                    for r in rows
                    if start <= r["timestamp"] <= end
                )
            shares = {}
            for user, token in tokens.items():
                resp = httpx.get(
                    f"http://127.0.0.1:{api_port}/ev-users/{user}/statements",
                    headers={"Authorization": f"Bearer {token}"},
                )
                (statement,) = resp.json()
                assert statement["session_id"] == sid
                assert statement["session_payout_units"] == payout
                shares[user] = statement["share_units"]
                # the same statement as a JSON file under statements_dir
                file = tmp / "statements" / user / f"{sid}.json"
                assert json.loads(file.read_text()) == statement
            return Outcome(
                start=start,
                payout_units=payout,
                orders_w=[[i["power_w"] for i in o["isps"]] for o in orders],
                readings=readings,
                shares=shares,
                withdrawn_units=st["withdrawn_units"],
                events=gw.events(),
                pending_at_kill=pending_at_kill,
                clearing=next(
                    (
                        f"{h['status']}: {h['detail']}"
                        for h in step_history(m.rt.engine, sid)
                        if h["step"] == "clearing"
                    ),
                    "",
                ),
                dso_named=chain.contracts.market.is_netting_payee(fsp, chain.addresses["dso"]),
                sharing_pending=st["sharing_pending"],
            )
        finally:
            await fleet.stop()
            await asyncio.to_thread(gw.stop)


def config_port(config: Path) -> int:
    import yaml

    return int(yaml.safe_load(config.read_text())["csms"]["port"])


def _settled(gw: Gateway, sid: str) -> bool:
    return any(e.get("event") == "settled" and e.get("session_id") == sid for e in gw.events())


async def test_a_gateway_killed_mid_delivery_loses_and_duplicates_nothing(
    chain: Any, tmp_path: Path
) -> None:
    calm = await run_session(chain, tmp_path / "calm", kill=False)
    killed = await run_session(chain, tmp_path / "killed", kill=True)

    # the uninterrupted run: offered, cleared, delivered, paid, shared
    assert calm.orders_w and all(w > 0 for o in calm.orders_w for w in o)
    assert calm.payout_units > 0
    assert calm.withdrawn_units == calm.payout_units
    assert 0 < sum(calm.shares.values()) <= calm.payout_units
    grid = [(k * METER_S) for k in range(4 * ISP_S // METER_S + 1)]
    for station in STATIONS:
        assert [r[0] for r in calm.readings[station]] == grid, station

    # the market's event stream woke the loop without failing
    for run in (calm, killed):
        assert not [e for e in run.events if e.get("event") == "events_stream_failed"]

    # the killed run: the gateway really died and came back once
    starts = [e for e in killed.events if e.get("event") == "started"]
    assert len(starts) == 2
    # ... with acknowledged readings still in its outbox, not yet relayed
    assert killed.pending_at_kill > 0
    # every reading of the delivery window is in the market store exactly once, with the
    # same registers as in the uninterrupted run
    for station in STATIONS:
        stamps = [r[0] for r in killed.readings[station]]
        assert stamps == grid, station
        assert killed.readings[station] == calm.readings[station], station
    # no delivery reading refused by the market (a conflicting duplicate would be a 409);
    # readings before any session's window are refused by design and named
    refused = [e for e in killed.events if e.get("event") == "reading_refused"]
    assert all(e["timestamp"] < killed.start for e in refused), refused
    # the same orders, the same payout, the same shares
    assert killed.orders_w == calm.orders_w
    assert killed.payout_units == calm.payout_units
    assert killed.withdrawn_units == calm.withdrawn_units
    assert killed.shares == calm.shares


async def test_a_gateway_without_a_netting_section_names_the_dso_and_waits_for_the_netting(
    chain: Any, tmp_path: Path
) -> None:
    """The market nets (GET /deployment says so): the gateway names the session's DSO as a
    payee after dispatch and withdraws only once the market netted the session."""
    run = await run_session(chain, tmp_path, kill=False, nets=True)
    assert run.dso_named and run.sharing_pending == []  # shared: nothing left in its queue
    assert run.clearing.startswith("DONE"), run.clearing
    names = [e.get("event") for e in run.events]
    assert "revenue_shared" in names and "withdraw_without_netting" not in names
    assert run.withdrawn_units == run.payout_units > 0


async def test_an_order_that_does_not_match_the_onchain_root_is_not_dispatched(
    chain: Any, tmp_path: Path
) -> None:
    """The API serves a manipulated order (more power than cleared): the restarted gateway
    checks it against the orders root on-chain, logs an error and neither dispatches nor
    acknowledges it."""
    node = chain.node
    with market(chain, tmp_path) as m:
        session = await asyncio.to_thread(open_session, m, chain, chain.keys["fsp_a"])
        sid, start, end = session.session_id, session.delivery_start, session.delivery_end
        api_port = free_port()
        config = gateway_config(m, chain, tmp_path, free_port(), api_port)
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        await asyncio.to_thread(gw.start)
        for user in USERS:
            token = await asyncio.to_thread(_token, config, user)
            await asyncio.to_thread(give_consent, api_port, user, token)
        t0 = start - 5 * ISP_S
        await asyncio.to_thread(node.warp_to, t0)
        clock = StepClock(t0)
        fleet = StationFleet(
            f"ws://127.0.0.1:{config_port(config)}",
            station_specs(start, end),
            clock=clock,
            meter_interval_s=METER_S,
            call_timeout_s=30.0,
        )
        try:
            await fleet.start(timeout_s=60.0)
            await _advance(clock, fleet, t0 + METER_S)
            await asyncio.to_thread(
                gw.wait, lambda s: s["offers_submitted"] == 1, what="offers", timeout_s=120
            )
            await asyncio.to_thread(gw.kill)
            await asyncio.to_thread(node.warp_to, start + 1)
            await asyncio.to_thread(m.worker.run_once)
            assert m.rt.ledger.session(sid).state == SessionState.CLEARED
            with m.rt.engine.begin() as conn:
                (order_id, body_json) = conn.execute(
                    sa.text("SELECT id, body_json FROM flex_order WHERE session_id = :s"),
                    {"s": sid},
                ).one()
                body = json.loads(body_json)
                for isp in body["isps"]:
                    isp["power_w"] *= 2
                conn.execute(
                    sa.text("UPDATE flex_order SET body_json = :b WHERE id = :i"),
                    {"b": json.dumps(body), "i": order_id},
                )
            await asyncio.to_thread(gw.start)
            st = await asyncio.to_thread(
                gw.wait, lambda s: s["orders"]["rejected"] == 1, what="the order's check"
            )
            await asyncio.sleep(3)  # a few more passes
            st = await asyncio.to_thread(gw.wait, lambda s: True, what="status")
            assert st["orders"] == {
                "received": 1,
                "verified": 0,
                "rejected": 1,
                "dispatched": 0,
                "acked": 0,
            }
            (rejected,) = [e for e in gw.events() if e.get("event") == "order_rejected"]
            assert rejected["order_id"] == order_id and rejected["level"] == "error"
            assert rejected["reason"] == "does not verify against the on-chain orders root"
            assert not [e for e in gw.events() if e.get("event") in ("dispatched", "acked")]
            (report,) = await asyncio.to_thread(m.op.dispatch_acks, sid)
            assert report["acknowledged"] == [] and report["unacknowledged"] == [order_id]
        finally:
            await fleet.stop()
            await asyncio.to_thread(gw.stop)
