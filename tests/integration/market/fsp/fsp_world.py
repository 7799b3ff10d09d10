"""The FSP gateway's end-to-end world: a market (service over loopback HTTP, lifecycle worker
with the meter oracle) on the shared anvil, the gateway as a subprocess, and simulated OCPP
2.1 stations on a step clock that connect to the gateway's CSMS over real websockets.

Time: 60 s ISPs, 12 s meter interval; the test warps anvil and the station clock in step, and
the gateway runs with ``clock: chain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from coincurve import PrivateKey
from eth_utils.crypto import keccak
from market_helpers import CP, cpo_grants, served, setup_market

from adapters.chain.types import SessionState
from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from clearing.encoding import code_to_bytes32, uuid_to_bytes32
from clearing.messages import FlexRequest, RequestIsp
from clearing.settlement.rules import SettlementRules
from market.api.schemas import ParticipantCreate, SessionCreate
from market.client import MarketClient
from market.ledger import Ledger
from market.lifecycle.worker import Worker
from market.runtime import ChainClock, Runtime, attach_settlement, build_runtime
from market.settings import Settings

ROOT = Path(__file__).resolve().parents[4]
ISP_S, N_ISPS, METER_S = 60, 4, 12
CHARGE_W = 11_000  # every EV's unmanaged charging power = its EVSE's rating
BUDGET = 10_000_000
RULES = SettlementRules(isp_s=ISP_S, max_gap_s=30, delivery_tolerance_ppm=50_000)
STATIONS = ("ST-1", "ST-2")
USERS = {"alice": "ST-1", "bob": "ST-2"}


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


def station_key(name: str) -> bytes:
    return keccak(text=f"fsp-gateway-station:{name}")


def public_key(name: str) -> str:
    return "0x" + PrivateKey(station_key(name)).public_key.format(compressed=False).hex()


def station_specs(start: int, end: int) -> list[StationSpec]:
    """One EV per station, plugged in an hour before delivery and staying well after."""
    return [
        StationSpec(
            station_id=st,
            password=f"pw-{st}-secret",
            protocol="ocpp2.1",
            evses=[
                EvseSpec(
                    evse_id=1,
                    max_power_w=CHARGE_W,
                    ev=EvModel(
                        battery_wh=60_000,
                        soc_pct=30.0,
                        max_charge_w=CHARGE_W,
                        max_discharge_w=0,
                        arrival_unix=start - 3600,
                        departure_unix=end + 6 * 3600,
                        round_trip_efficiency=1.0,
                        target_soc_pct=100,
                    ),
                )
            ],
            private_key=station_key(st),
        )
        for st in STATIONS
    ]


@dataclass
class Market:
    """The market side: runtime, URL, worker, the operator's and the DSO's clients."""

    rt: Runtime
    url: str
    worker: Worker
    op: MarketClient
    dso: MarketClient


@contextlib.contextmanager
def market(chain: Any, tmp: Path) -> Iterator[Market]:
    """The service over loopback HTTP and a worker that attests delivery (oracle key)."""
    ledger = Ledger(chain.client, chain.contracts.market, operator=chain.addresses["operator"])
    settings = Settings(
        database_url=f"sqlite:///{tmp}/market.db",
        bundle_dir=tmp / "bundles",
        role_cache_ttl_s=0.0,
        token_secret="fsp-gateway-test",
        oracle_key=chain.keys["oracle"],
        settlement_rules=RULES.to_json_obj(),
        public_rpc_url=chain.node.rpc_url,  # advertised in GET /deployment
    )
    rt = build_runtime(settings, ledger=ledger, clock=ChainClock(ledger))
    worker = Worker(
        engine=rt.engine, ledger=ledger, bundles=rt.bundles, clock=rt.core.clock, meter_grace_s=30
    )
    attach_settlement(worker, settings, ledger=ledger)
    now = rt.core.clock.now
    with served(rt.app()) as url:
        yield Market(
            rt,
            url,
            worker,
            MarketClient(url, chain.keys["operator"], now=now),
            MarketClient(url, chain.keys["dso"], now=now),
        )
        rt.engine.dispose()


def open_session(m: Market, chain: Any, fsp_key: str) -> SessionCreate:
    """Schedule a session (gate in 10 ISPs), open it on-chain, the DSO escrows and posts a
    request; the FSP describes itself (its on-chain role is the deployment's)."""
    setup_market(m.op)
    MarketClient(m.url, fsp_key, now=m.rt.core.clock.now).register_participant(
        ParticipantCreate(name="FSP gateway", ean_codes=[CP])
    )
    now = int(m.rt.core.clock.now())
    gate = (now // ISP_S + 10) * ISP_S
    session = SessionCreate(
        session_id=str(uuid.uuid4()),
        gate_closure=gate,
        delivery_start=gate,
        delivery_end=gate + N_ISPS * ISP_S,
        isp_s=ISP_S,
        challenge_window_s=120,
    )
    m.op.create_session(session)
    m.worker.run_once()
    req = FlexRequest(
        request_id=str(uuid.uuid4()),
        session_id=session.session_id,
        congestion_point=CP,
        direction="UP",
        revision=1,
        expires_at=gate,
        max_price_per_mwh=400_000_000,
        budget_units=BUDGET,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=8_000)
            for i in range(N_ISPS)
        ),
    )
    chain.contracts.market.post_request(
        uuid_to_bytes32(session.session_id),
        uuid_to_bytes32(req.request_id),
        code_to_bytes32(CP),
        req.canonical_hash(),
        BUDGET,
        sender=chain.addresses["dso"],
    )
    m.dso.post_request(req)
    return session


CPO_KEY_ENV = "FSP_CPO_KEY"


def gateway_config(m: Market, chain: Any, tmp: Path, csms_port: int, api_port: int) -> Path:
    """The gateway's fsp.yaml, after the CPO registered each station's meter key on-chain and
    granted the station to ``fsp_a`` (POST /assets refuses a station without that grant)."""
    for st in STATIONS:
        cpo_grants(chain, st, public_key(st), "fsp_a")
    cfg = {
        "market_url": m.url,
        "rpc_url": chain.node.rpc_url,
        "key_env": "FSP_GATEWAY_KEY",
        "database": f"sqlite:///{tmp}/gateway.db",
        "dev": True,
        "clock": "chain",
        "poll_s": 1,
        "offers": {"lead_s": 3600},
        "csms": {
            "port": csms_port,
            "meter_interval_s": METER_S,
            "stations": {
                st: {
                    "password": f"pw-{st}-secret",
                    "meter_public_key": public_key(st),
                    # the CSMS signs the readings digests for the stations' CPO
                    "cpo_key_env": CPO_KEY_ENV,
                    "evses": [{"evse_id": 1, "congestion_point": CP, "max_import_w": CHARGE_W}],
                }
                for st in STATIONS
            },
        },
        "ev_api": {"port": api_port},
        # the deployment the CPO signs digests for, from its own records (not GET /deployment)
        "deployment": {
            "chain_id": m.rt.ledger.chain_id,
            "market_address": chain.contracts.market.address,
        },
        "ev_users": {u: {"station": st, "evse_id": 1} for u, st in USERS.items()},
        "statements_dir": "statements",
    }
    path = tmp / "fsp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def give_consent(api_port: int, user: str, token: str) -> None:
    """The EV user consents to bidding (the gateway bids no EV user's EV without it)."""
    auth = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{api_port}"
    version = httpx.get(f"{base}/consent-text", timeout=10).json()["version"]
    resp = httpx.put(
        f"{base}/ev-users/{user}/consent",
        json={"purposes": {"flexibility_bidding": True}, "version": version},
        headers=auth,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


@dataclass
class Gateway:
    """``flexmarket fsp run`` as a subprocess; its JSON-line log collected per start."""

    config: Path
    key: str
    api_port: int
    logs: list[Path] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    cpo_key: str = ""  # the stations' CPO's key (CPO_KEY_ENV): its CSMS signs their digests

    def start(self) -> None:
        log = self.config.parent / f"gateway-{len(self.logs)}.log"
        self.logs.append(log)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FSP_GATEWAY_KEY": self.key}
        env[CPO_KEY_ENV] = self.cpo_key
        cmd = [sys.executable, "-m", "market.cli", "fsp", "run", "--config", str(self.config)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.wait(lambda s: True, what="the gateway's API", timeout_s=120)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def status(self) -> dict[str, Any] | None:
        try:
            resp = httpx.get(f"http://127.0.0.1:{self.api_port}/status", timeout=5)
        except httpx.HTTPError:
            return None
        return dict(resp.json()) if resp.status_code == 200 else None

    def wait(self, ok: Any, *, what: str, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the gateway exited ({self.proc.returncode}):\n{self.tail()}")
            status = self.status()
            if status is not None and ok(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"waiting for {what}: {status}\n{self.tail()}")
            time.sleep(0.1)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for log in self.logs:
            for line in log.read_text().splitlines():
                if line.startswith("{"):
                    out.append(json.loads(line))
        return out

    def wait_digests(self, session_id: str, timeout_s: float = 60) -> None:
        """Until the gateway sent the CPO's readings digests of the session to the market."""
        deadline = time.monotonic() + timeout_s
        while not any(
            e.get("event") == "readings_digests_sent" and e.get("session_id") == session_id
            for e in self.events()
        ):
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"no readings digests sent:\n{self.tail()}"
            time.sleep(0.1)

    def tail(self) -> str:
        """The last start's log end, after its error lines (a traceback alone hides the cause)."""
        text = "".join(log.read_text() for log in self.logs[-1:])
        errors = [line for line in text.splitlines() if "rror" in line and "File " not in line]
        return "\n".join(errors[:10]) + "\n[…]\n" + text[-3000:]


def settled(gw: Gateway, sid: str) -> bool:
    """Whether the gateway withdrew and wrote the statements of session ``sid``."""
    return any(e.get("event") == "settled" and e.get("session_id") == sid for e in gw.events())


async def advance(clock: StepClock, fleet: StationFleet, t: int, timeout_s: float = 60) -> None:
    """Move station time to ``t``; wait until every station sampled and sent up to it."""
    clock.set(t)
    floor = t // METER_S * METER_S
    deadline = time.monotonic() + timeout_s
    while not all(st.t >= floor and st._sleeping for st in fleet.stations.values()):
        assert time.monotonic() < deadline, f"stations did not reach {t} within {timeout_s} s"
        await asyncio.sleep(0.005)


def warp_past_challenge_window(m: Market, node: Any, sid: str) -> None:
    """Move the chain past the challenge window of a VERIFIED session. The window runs from
    the verification block, whose timestamp runs on with the wall clock after a warp, so a
    fixed offset from the earlier warp can fall short on a loaded machine."""
    verified = m.rt.ledger.session(sid)
    node.warp_to(verified.verified_at + verified.challenge_window + 1)


async def deliver_session(m: Market, chain: Any, gw: Gateway, config: Path, session: Any) -> None:
    """The session from the stations' connection to the gateway's statements."""
    node = chain.node
    sid, start, end = session.session_id, session.delivery_start, session.delivery_end
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
        await advance(clock, fleet, t0 + METER_S)
        await asyncio.to_thread(
            gw.wait, lambda s: s["offers_submitted"] == 1, what="offers", timeout_s=120
        )
        await asyncio.to_thread(node.warp_to, start + 1)
        await asyncio.to_thread(m.worker.run_once)
        assert m.rt.ledger.session(sid).state == SessionState.CLEARED
        await asyncio.to_thread(
            gw.wait, lambda s: s["orders"]["acked"] >= 1, what="orders acknowledged"
        )
        await asyncio.to_thread(m.worker.run_once)
        for t in range(start + METER_S, end + ISP_S + 1, METER_S):
            await asyncio.to_thread(node.warp_to, t)
            await advance(clock, fleet, t)
        await asyncio.to_thread(
            gw.wait,
            lambda s: (
                s["outbox"]["pending"] == 0
                and all(s["last_reading"].get(x, 0) >= end + ISP_S for x in STATIONS)
            ),
            what="every reading relayed",
        )
        await asyncio.to_thread(node.warp_to, end + ISP_S + 31)
        await asyncio.to_thread(gw.wait_digests, sid)  # the CPO vouches for the readings
        await asyncio.to_thread(m.worker.run_once)
        await asyncio.to_thread(warp_past_challenge_window, m, node, sid)
        deadline = time.monotonic() + 120
        while not settled(gw, sid):
            # FINAL, then (with a clearing house) netted: the gateway withdraws after both
            assert time.monotonic() < deadline, f"no withdrawal and statements:\n{gw.tail()}"
            await asyncio.to_thread(m.worker.run_once)
            await asyncio.sleep(0.2)
        assert m.rt.ledger.session(sid).state == SessionState.FINAL
    finally:
        await fleet.stop()
