"""The FSP's fleet desk in Chromium: the operator signs in with the operator token (from the
environment variable ``ev_api.desk_token_env`` names) and sees its stations connected over real
OCPP websockets (and the market's ``GET /station-status`` too, as the gateway reported them),
the EV users' bookings, the next session's envelope, its offers and the order
the market cleared with its dispatch per station. A real gateway (subprocess), real stations,
a real market on anvil; the page talks only to the gateway, and the test fails on any browser
console error or request to another host."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fsp_world import (
    ISP_S,
    METER_S,
    ROOT,
    STATIONS,
    Gateway,
    Market,
    StepClock,
    gateway_config,
    give_consent,
    market,
    open_session,
    station_specs,
)
from market_helpers import CP

from adapters.chain.types import SessionState
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "reports" / "screenshots" / "fsp-desk.png"
TOKEN = "desk-operator-token-0123456789abcdef"  # test-only, >= 32 characters


def _utc(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _token(config: Path, user: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "market.cli", "fsp", "token", "--config", str(config)]
    out = subprocess.run(
        [*cmd, "--user", user], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


async def _advance(clock: StepClock, fleet: StationFleet, t: int, timeout_s: float = 60) -> None:
    clock.set(t)
    floor = t // METER_S * METER_S
    deadline = time.monotonic() + timeout_s
    while not all(st.t >= floor and st._sleeping for st in fleet.stations.values()):
        assert time.monotonic() < deadline, f"stations did not reach {t} within {timeout_s} s"
        await asyncio.sleep(0.005)


async def _until_dispatched(
    m: Market,
    chain: Any,
    gw: Gateway,
    config: Path,
    session: Any,
    ready: threading.Event,
    stop: threading.Event,
) -> None:
    """Stations connect, the gateway bids, the market clears, the gateway dispatches; the
    stations stay connected until ``stop``."""
    node = chain.node
    start, end = session.delivery_start, session.delivery_end
    t0 = start - 5 * ISP_S
    await asyncio.to_thread(node.warp_to, t0)
    clock = StepClock(t0)
    csms_port = int(yaml.safe_load(config.read_text())["csms"]["port"])
    fleet = StationFleet(
        f"ws://127.0.0.1:{csms_port}",
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
        await asyncio.to_thread(node.warp_to, start + 1)
        await asyncio.to_thread(m.worker.run_once)
        assert m.rt.ledger.session(session.session_id).state == SessionState.CLEARED
        await asyncio.to_thread(
            gw.wait,
            lambda s: s["orders"]["acked"] >= 1 and s["orders"]["dispatched"] >= 1,
            what="orders dispatched and acknowledged",
        )
        await fleet.stations[STATIONS[0]].call("Heartbeat", {})  # the other one sends none
        ready.set()
        await asyncio.to_thread(stop.wait, 300)
    finally:
        await fleet.stop()


def test_the_desk_shows_a_connected_station_and_its_order(
    chain: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with market(chain, tmp_path) as m:
        session = open_session(m, chain, chain.keys["fsp_a"])
        sid = session.session_id
        api_port = free_port()
        config = gateway_config(m, chain, tmp_path, free_port(), api_port)
        cfg = yaml.safe_load(config.read_text())
        cfg["ev_api"]["desk_token_env"] = "FSP_DESK_TOKEN"
        config.write_text(yaml.safe_dump(cfg))
        monkeypatch.setenv("FSP_DESK_TOKEN", TOKEN)
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        gw.start()
        ready, stop = threading.Event(), threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(_until_dispatched(m, chain, gw, config, session, ready, stop))
            except BaseException as exc:  # re-raised in the test's thread
                failure.append(exc)
                ready.set()

        thread = threading.Thread(target=run)
        try:
            alice = _token(config, "alice")
            give_consent(api_port, "alice", alice)
            thread.start()
            assert ready.wait(400), "the session was not dispatched within 400 s"
            if failure:
                raise failure[0]
            base = f"http://127.0.0.1:{api_port}"
            # the operator token is required: none, a wrong one and an EV user's are refused
            state = f"{base}/desk/state"
            assert httpx.get(state).status_code == 401
            wrong = httpx.get(state, headers={"Authorization": "Bearer " + "x" * 40})
            assert wrong.status_code == 401
            assert wrong.json()["field"] == "authorization"
            ev_user = httpx.get(state, headers={"Authorization": f"Bearer {alice}"})
            assert ev_user.status_code == 401
            body = httpx.get(state, headers={"Authorization": f"Bearer {TOKEN}"}).json()
            (sess,) = [s for s in body["sessions"] if s["session_id"] == sid]
            (order,) = sess["orders"]
            assert order["verified"] and order["acked"] and order["dispatch"]
            # the gateway reported its stations to the market: /fsp shows them connected
            fsp_address = chain.addresses["fsp_a"].lower()
            deadline = time.monotonic() + 60
            while True:
                shown = {r["station_id"]: r for r in m.op.station_status(fsp=fsp_address)}
                if all(shown.get(st, {}).get("connected") for st in STATIONS):
                    break
                assert time.monotonic() < deadline, f"not reported connected: {shown}"
                time.sleep(0.5)
            assert all(shown[st]["last_seen_unix"] for st in STATIONS)

            problems: list[str] = []
            outside: list[str] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                context = browser.new_context(viewport={"width": 1280, "height": 900})

                def guard(route: Any) -> None:
                    if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
                        route.continue_()
                    else:
                        outside.append(route.request.url)
                        route.abort()

                context.route("**/*", guard)
                page = context.new_page()
                page.set_default_timeout(30_000)
                page.on(
                    "console",
                    lambda msg: problems.append(msg.text) if msg.type == "error" else None,
                )
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                assert page.goto(base + "/desk").ok
                page.locator("#desk-token").focus()
                page.keyboard.type(TOKEN)
                page.keyboard.press("Enter")
                expect(page.locator("#status")).to_contain_text("FSP 0x")
                assert TOKEN not in page.url

                stations = page.locator("#stations-table tbody tr")
                expect(stations).to_have_count(len(STATIONS))
                for n, st in enumerate(STATIONS):
                    cells = stations.nth(n).locator("td")
                    expect(cells.nth(0)).to_have_text(st)
                    expect(cells.nth(1)).to_have_text("connected")
                    beat = body["stations"][n]["last_heartbeat_unix"]
                    assert (beat is not None) == (n == 0), body["stations"][n]
                    expect(cells.nth(3)).to_have_text(_utc(beat) if beat else "—")
                    expect(cells.nth(5)).to_have_text(CP)
                    expect(cells.nth(8)).to_have_text("yes")  # the EV is plugged in
                    assert cells.nth(7).inner_text() != "—"  # a transaction runs
                    assert cells.nth(11).inner_text().isdigit()  # its SoC

                fleet = page.locator("#fleet-table tbody tr")
                expect(fleet).to_have_count(2)
                expect(fleet.nth(0).locator("td").nth(3)).to_have_text("given")  # alice
                expect(fleet.nth(1).locator("td").nth(3)).to_have_text("not given")  # bob
                expect(fleet.nth(0).locator("td").nth(4)).to_have_text("yes")
                expect(fleet.nth(1).locator("td").nth(4)).to_have_text("no")  # never bid

                expect(page.locator("#envelope-session")).to_contain_text(sid)
                env_rows = page.locator(f".envelope-table[data-point='{CP}'] tbody tr")
                expect(env_rows).to_have_count(len(body["next_session"]["envelopes"][0]["isps"]))

                orders = page.locator(f".orders-table[data-session='{sid}'] tbody tr")
                expect(orders).to_have_count(1)
                row = orders.first.locator("td")
                expect(row.nth(0)).to_have_text(order["order_id"])
                expect(row.nth(4)).to_have_text("yes")
                expect(row.nth(5)).to_have_text("yes")
                for station, state_text in order["dispatch"].items():
                    expect(row.nth(6)).to_contain_text(f"{station}: {state_text}")
                offers = page.locator(f".offers-table[data-session='{sid}'] tbody tr")
                expect(offers).to_have_count(len(sess["offers"]))

                # the stations table sorts by keyboard: Enter on "station" twice -> descending
                header = page.locator("#stations-table thead th").nth(0)
                header.locator("button").focus()
                page.keyboard.press("Enter")
                expect(header).to_have_attribute("aria-sort", "ascending")
                page.keyboard.press("Enter")
                expect(header).to_have_attribute("aria-sort", "descending")
                expect(stations.first.locator("td").nth(0)).to_have_text(sorted(STATIONS)[-1])
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                context.close()
                browser.close()
            assert not problems, f"browser console errors: {problems}"
            assert not outside, f"requests to other hosts: {outside}"
        finally:
            stop.set()
            if thread.is_alive():
                thread.join(timeout=60)
            gw.stop()
