"""The settlement end-to-end test's world: real anvil with the market deployed, the service over
loopback HTTP with its default settlement wiring, the lifecycle worker, and the two simulated
OCPP 2.1 stations behind a real CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from eth_utils.crypto import keccak
from settlement_e2e_kit import (
    BASELINE_W,
    BUDGET,
    ISP_S,
    METER_S,
    NAMES,
    RULES,
    STATIONS,
    StepClock,
    station_key,
)

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient
from adapters.chain.deploy import deploy_market
from adapters.chain.toolchain import compile_contracts
from adapters.ocpp.csms import Csms
from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from market.client import MarketClient
from market.ledger import Ledger
from market.lifecycle.worker import Worker
from market.metering import store_sink
from market.runtime import ChainClock, Runtime, attach_settlement, build_runtime
from market.settings import Settings


@contextlib.contextmanager
def settlement_world(tmp: Path) -> Iterator[dict[str, Any]]:
    """Chain, service and worker; parties by name (see ``NAMES``) with their roles and keys."""
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
            ("cpo", "CPO"),
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


def station_specs(start: int, end: int) -> list[StationSpec]:
    """Both FSPs' stations, one V2G EV each, parked through the whole session. A's station
    goes offline one ISP into delivery."""
    return [
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
            private_key=bytes.fromhex(station_key(station)[2:]),
            faults=StationFaults(
                # A's station goes offline after its reading at the end of ISP 0 and comes back
                # long after the oracle attested; its queued signed readings arrive then.
                drop_at_unix=start + ISP_S if station == "ST-A" else None,
                drop_for_s=20 * ISP_S,
                lose_profiles_on_drop=False,
            ),
        )
        for station in STATIONS.values()
    ]


@contextlib.asynccontextmanager
async def station_fleet(
    rt: Runtime, clock: StepClock, start: int, end: int
) -> AsyncIterator[tuple[Csms, StationFleet]]:
    """The CSMS (storing readings in the service's database) and the stations, connected."""
    specs = station_specs(start, end)
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
        yield csms, fleet
    finally:
        await fleet.stop()
        await csms.stop()


async def advance(clock: StepClock, fleet: StationFleet, t: int, timeout_s: float = 30) -> None:
    """Move station time to ``t`` and wait until every station has sampled up to it."""
    clock.set(t)
    floor = t // METER_S * METER_S
    deadline = time.monotonic() + timeout_s
    while not all(st.t >= floor and st._sleeping for st in fleet.stations.values()):
        assert time.monotonic() < deadline, f"stations did not reach {t} within {timeout_s} s"
        await asyncio.sleep(0.005)
