"""The gateway's CSMS with security profile 3 from fsp.yaml: a station with a certificate
from the configured CA (CN = its id) connects over ``wss://``; the same station with a
certificate from another CA is refused in the TLS handshake."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fsp_world import Gateway, StepClock, gateway_config, market, open_session, station_specs

from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ports import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "adapters" / "ocpp"))
from tls_testkit import TestCa, needs_openssl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), needs_openssl]


async def test_a_station_connects_to_the_gateways_csms_over_mutual_tls(
    chain: Any, tmp_path: Path
) -> None:
    ca, rogue = TestCa(tmp_path, "fsp-ca"), TestCa(tmp_path, "rogue-ca")
    server = ca.issue("127.0.0.1", server=True)
    with market(chain, tmp_path) as m:
        session = await asyncio.to_thread(open_session, m, chain, chain.keys["fsp_a"])
        api_port, csms_port = free_port(), free_port()
        config = gateway_config(m, chain, tmp_path, csms_port, api_port)
        cfg = yaml.safe_load(config.read_text())
        cfg["csms"].update(
            security_profile=3,
            tls_cert=server.cert.name,  # relative to the config file's folder
            tls_key=server.key.name,
            tls_ca=str(ca.pem.cert),
        )
        config.write_text(yaml.safe_dump(cfg))
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        await asyncio.to_thread(gw.start)
        (started,) = [e for e in gw.events() if e.get("event") == "started"]
        assert started["csms_url"] == f"wss://127.0.0.1:{csms_port}"
        specs = list(station_specs(session.delivery_start, session.delivery_end))
        st1 = [s for s in specs if s.station_id == "ST-1"]
        clock = StepClock(session.delivery_start - 600)
        url = f"wss://127.0.0.1:{csms_port}"
        good = StationFleet(url, st1, clock=clock, ssl_context=ca.client_context(ca.issue("ST-1")))
        bad = StationFleet(
            url, st1, clock=clock, ssl_context=ca.client_context(rogue.issue("ST-1"))
        )
        try:
            with pytest.raises(TimeoutError):
                await bad.start(timeout_s=5.0)
            await bad.stop()
            await good.start(timeout_s=30.0)
            await asyncio.to_thread(
                gw.wait, lambda s: s["stations_connected"] == 1, what="ST-1 over TLS"
            )
        finally:
            await good.stop()
            await bad.stop()
            await asyncio.to_thread(gw.stop)
