"""Acceptance 1: each protocol version end to end over real sockets.

Boot, plug-in, transaction, a charge (and for 2.1 a discharge) profile that the simulated EV
follows, registers within 1 Wh of the profile per ISP, departure, profile cleared.
"""

from __future__ import annotations

import pytest
from ocpp_testkit import ISP_S, LEAD_S, PASSWORD, ev, running, sleep_until

from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from adapters.ocpp.signing import public_key_hex, public_key_to_address, recover_reading_signer
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# 2.1: charge 7 kW then discharge 5 kW; limit-only versions: 7 kW then 3 kW caps.
PLANS = {
    "ocpp2.1": (7_000, -5_000),
    "ocpp2.0.1": (7_000, 3_000),
    "ocpp1.6": (7_000, 3_000),
}


@pytest.mark.parametrize("protocol", list(PLANS))
async def test_profile_followed_and_metered(protocol: str, t0: int, clock) -> None:
    key = bytes([9]) * 32
    depart = t0 + LEAD_S + 2 * ISP_S + 120
    spec = StationSpec(
        f"V-{protocol}",
        PASSWORD,
        protocol,
        [EvseSpec(1, ev(t0, departure_unix=depart))],
        private_key=key,
    )
    async with running([spec], clock) as (csms, fleet):
        station = fleet[spec.station_id]
        session = csms.session(spec.station_id)
        assert session.protocol == protocol
        assert session.boot_info is not None

        await sleep_until(clock, t0 + 130)  # plugged in at t0+60
        evse = session.evse(1)
        assert evse.transaction_id is not None, "transaction started on plug-in"
        assert evse.status in ("Occupied", "Charging")
        if protocol == "ocpp2.1":
            needs = csms.charging_needs(spec.station_id, 1)
            assert needs is not None and needs.max_discharge_power_w == 11_000
            assert needs.departure_unix == depart

        isp1 = t0 + LEAD_S
        p1, p2 = PLANS[protocol]
        outcome = await csms.dispatcher.dispatch(
            {
                (spec.station_id, 1): [
                    IspSetpoint(isp1, ISP_S, p1),
                    IspSetpoint(isp1 + ISP_S, ISP_S, p2),
                ]
            }
        )
        statuses = [i.status for i in outcome[(spec.station_id, 1)]]
        assert statuses == [DispatchStatus.CONFIRMED] * 2, outcome

        await sleep_until(clock, depart + 200)
        readings = {r.timestamp: r for r in csms.sink.series(spec.station_id, 1)}
        a, b, c = isp1, isp1 + ISP_S, isp1 + 2 * ISP_S
        for t in (a, b, c):
            assert t in readings, f"clock-aligned sample at {t}"
        # Within 1 Wh per ISP of the followed profile.
        assert abs((readings[b].import_wh - readings[a].import_wh) - p1 * ISP_S // 3600) <= 1
        if p2 < 0:
            assert abs((readings[c].export_wh - readings[b].export_wh) - (-p2) * ISP_S // 3600) <= 1
            assert readings[c].import_wh == readings[b].import_wh
            assert readings[c].power_w == p2
        else:
            assert abs((readings[c].import_wh - readings[b].import_wh) - p2 * ISP_S // 3600) <= 1

        # Departure: transaction over, profile cleared on the station and in the status.
        assert evse.transaction_id is None
        assert [i.status for i in csms.dispatcher.status(spec.station_id, 1)] == [
            DispatchStatus.CLEARED
        ] * 2
        assert station.evses[1].profiles == []

        # Signed readings recover to the station's key.
        signed = readings[b]
        assert signed.signed_data is not None and signed.signature is not None
        address = public_key_to_address(public_key_hex(key))
        assert recover_reading_signer(signed.signed_data, signed.signature) == address
        assert not csms.sink.events
        assert csms.stats["bad_frames"] == 0
        assert station.errors == []


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp1.6"])
async def test_discharge_refused_before_sending_on_limit_only_versions(
    protocol: str, t0: int, clock
) -> None:
    spec = StationSpec(f"N-{protocol}", PASSWORD, protocol, [EvseSpec(1, ev(t0))])
    async with running([spec], clock) as (csms, fleet):
        outcome = await csms.dispatcher.dispatch(
            {(spec.station_id, 1): [IspSetpoint(t0 + LEAD_S, ISP_S, -4_000)]}
        )
        (isp,) = outcome[(spec.station_id, 1)]
        assert isp.status == DispatchStatus.REFUSED_NO_V2G
        assert protocol in (isp.reason or "")
        assert fleet[spec.station_id].profiles_received == []  # nothing was sent


async def test_unknown_station_and_wrong_password_refused_at_handshake(t0: int, clock) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    good = StationSpec("AUTH-1", PASSWORD, "ocpp2.1", [EvseSpec(1)])
    async with running([good], clock) as (csms, _fleet):
        for user, password in (("AUTH-1", "wrong"), ("NOBODY", PASSWORD)):
            import base64

            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            with pytest.raises(InvalidStatus) as err:
                async with connect(
                    f"{csms.url}/{user}",
                    subprotocols=["ocpp2.1"],
                    additional_headers={"Authorization": f"Basic {token}"},
                    proxy=None,
                ):
                    pass
            assert err.value.response.status_code == 401
        assert csms.stats["auth_refused"] == 2


async def test_subprotocol_negotiation_prefers_newest(clock) -> None:
    import asyncio
    import base64

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    from adapters.ocpp.csms import Csms

    csms = Csms(credentials={"SP": PASSWORD}, clock=clock)
    await csms.start()
    headers = {"Authorization": "Basic " + base64.b64encode(f"SP:{PASSWORD}".encode()).decode()}
    try:
        offer = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
        async with connect(
            f"{csms.url}/SP", subprotocols=offer, additional_headers=headers, proxy=None
        ) as ws:
            assert ws.subprotocol == "ocpp2.1"
        async with connect(
            f"{csms.url}/SP", subprotocols=["ocpp9"], additional_headers=headers, proxy=None
        ) as ws:
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
    finally:
        await csms.stop()


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="needs openssl")
async def test_security_profile_2_over_tls(t0: int, clock, tmp_path) -> None:
    import ssl
    import subprocess

    from adapters.ocpp.csms import Csms
    from adapters.ocpp.simulator.fleet import StationFleet

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    spec = StationSpec("TLS-1", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))])
    csms = Csms(credentials={"TLS-1": PASSWORD}, clock=clock, ssl_context=server_ctx)
    await csms.start()
    assert csms.url.startswith("wss://")
    fleet = StationFleet(csms.url, [spec], clock=clock, ssl_context=client_ctx)
    try:
        await fleet.start(timeout_s=20)
        await sleep_until(clock, clock.now() + 300)  # key generation took clock time
        assert len(csms.sink.series("TLS-1", 1)) >= 3
    finally:
        await fleet.stop()
        await csms.stop()
