"""Issue 17 item 4: NotifyEVChargingNeeds from independent stations is answered and stored.

The ``ocpp`` library's ChargePoint (its own schema validation on) sends the needs on 2.0.1
and 2.1; the CSMS keeps them per EVSE and in an SQL sink. Malformed needs get the
specification's CallError and the connection stays up; the station simulator sends them
when its EVSE spec asks for it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError, OCPPError, PropertyConstraintViolationError
from ocpp.v21 import ChargePoint as V21ChargePoint
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call as call201
from ocpp_testkit import PASSWORD, ev, running, sleep_until
from websockets.asyncio.client import connect

from adapters.clock import SystemClock
from adapters.ocpp.charging_needs import EvChargingNeeds
from adapters.ocpp.csms import Csms
from adapters.ocpp.handlers.routing import on
from adapters.ocpp.orders import IspSetpoint
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from adapters.ocpp.sink import SqlReadingSink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PW = "needs-pw"
DEPART = "2026-12-05T18:30:00Z"
DEPART_UNIX = 1796495400
ISP_S = 900


class Station21(V21ChargePoint):  # type: ignore[misc]  # ocpp ships no types
    """A 2.1 station that accepts the profiles the CSMS sends."""

    @on("SetChargingProfile", skip_schema_validation=False)
    def on_set_charging_profile(self, **_: Any) -> Any:
        return result21.SetChargingProfile(status="Accepted")


STATIONS: dict[str, tuple[Any, Any]] = {
    "ocpp2.0.1": (V201ChargePoint, call201),
    "ocpp2.1": (Station21, call21),
}
NEEDS = {
    "ocpp2.0.1": {
        "requested_energy_transfer": "DC",
        "departure_time": DEPART,
        "dc_charging_parameters": {
            "ev_max_current": 200,
            "ev_max_voltage": 800,
            "energy_amount": 30_000,
            "ev_max_power": 50_000,
        },
    },
    "ocpp2.1": {
        "requested_energy_transfer": "AC_BPT",
        "departure_time": DEPART,
        "control_mode": "ScheduledControl",
        "mobility_needs_mode": "EVCC_SECC",
        "ac_charging_parameters": {
            "energy_amount": 99_999.0,  # the V2X target request takes precedence
            "ev_min_current": 6.0,
            "ev_max_current": 16.0,
            "ev_max_voltage": 230.0,
        },
        "v2x_charging_parameters": {
            "min_charge_power": 1_400.4,
            "max_charge_power": 11_000.0,
            "min_discharge_power": 0.0,
            "max_discharge_power": 7_399.6,
            "ev_target_energy_request": 24_000.0,
            "target_soc": 80,
        },
    },
}


EXPECTED = {
    "ocpp2.0.1": partial(
        EvChargingNeeds, "NEEDS-1", 1, "ocpp2.0.1", "DC", DEPART_UNIX, 30_000,
        None, 50_000, None, None, None, None, None,
    ),
    "ocpp2.1": partial(
        EvChargingNeeds, "NEEDS-1", 1, "ocpp2.1", "AC_BPT", DEPART_UNIX, 24_000,
        1_400, 11_000, 0, 7_400, 80, "ScheduledControl", "EVCC_SECC",
    ),
}  # fmt: skip


@asynccontextmanager
async def _station(csms: Csms, protocol: str) -> AsyncIterator[Any]:
    token = base64.b64encode(f"NEEDS-1:{PW}".encode()).decode()
    ws = await connect(
        f"{csms.url}/NEEDS-1",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {token}"},
        proxy=None,
    )
    station = STATIONS[protocol][0]("NEEDS-1", ws, response_timeout=10)
    serving = asyncio.create_task(station.start())
    try:
        yield station
        assert not serving.done(), "the station kept serving"
    finally:
        serving.cancel()
        await ws.close()


async def _plug_in(station: Any, c: Any) -> None:
    await station.call(
        c.BootNotification(charging_station={"vendor_name": "lib", "model": "peer"},
                           reason="PowerUp"), suppress=False,
    )  # fmt: skip
    await station.call(
        c.TransactionEvent(event_type="Started", timestamp=DEPART, trigger_reason="CablePluggedIn",
                           seq_no=0, transaction_info={"transaction_id": "tx-1"},
                           evse={"id": 1, "connector_id": 1}), suppress=False,
    )  # fmt: skip


@pytest.mark.parametrize("protocol", list(STATIONS))
async def test_needs_answered_and_stored_in_memory_and_sql(protocol: str, tmp_path: Path) -> None:
    sink = SqlReadingSink(f"sqlite:///{tmp_path}/needs.db")
    csms = Csms(credentials={"NEEDS-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    c = STATIONS[protocol][1]
    try:
        async with _station(csms, protocol) as station:
            await _plug_in(station, c)
            answer = await station.call(
                c.NotifyEVChargingNeeds(evse_id=1, charging_needs=NEEDS[protocol]),
                suppress=False,
            )
            # 2.1: no FSP schedule for this EVSE yet, so no profile is promised
            assert answer.status == ("NoChargingProfile" if protocol == "ocpp2.1" else "Accepted")
            needs = csms.charging_needs("NEEDS-1", 1)
            assert needs is not None
            assert sink.load_charging_needs("NEEDS-1", 1) == [needs]
    finally:
        await csms.stop()
    assert needs == EXPECTED[protocol](received_at=needs.received_at)


BAD_NEEDS: list[tuple[dict[str, Any], type[OCPPError]]] = [
    ({"requested_energy_transfer": "AC_BPT", "departure_time": "yesterday"}, FormatViolationError),
    ({"departure_time": DEPART}, OCPPError),  # requestedEnergyTransfer is required
    ({"requested_energy_transfer": "AC_BPT",
      "v2x_charging_parameters": {"max_discharge_power": -5.0}},
     PropertyConstraintViolationError),
    ({"requested_energy_transfer": "AC_BPT",
      "v2x_charging_parameters": {"ev_target_energy_request": 1e300}},
     PropertyConstraintViolationError),
]  # fmt: skip


async def test_2_1_needs_accepted_when_the_fsp_has_a_schedule_for_the_evse() -> None:
    csms = Csms(credentials={"NEEDS-1": PW}, clock=SystemClock(), confirm_profiles=False)
    await csms.start()
    try:
        async with _station(csms, "ocpp2.1") as station:
            await _plug_in(station, call21)
            start = (int(time.time()) // ISP_S + 1) * ISP_S
            await csms.dispatcher.dispatch({("NEEDS-1", 1): [IspSetpoint(start, ISP_S, 5_000)]})
            answer = await station.call(
                call21.NotifyEVChargingNeeds(evse_id=1, charging_needs=NEEDS["ocpp2.1"]),
                suppress=False,
            )
            assert answer.status == "Accepted"
    finally:
        await csms.stop()


@pytest.mark.parametrize(("charging_needs", "error"), BAD_NEEDS)
async def test_malformed_needs_get_a_call_error_and_nothing_is_stored(
    charging_needs: dict[str, Any], error: type[OCPPError]
) -> None:
    csms = Csms(credentials={"NEEDS-1": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with _station(csms, "ocpp2.1") as station:
            await _plug_in(station, call21)
            with pytest.raises(error):
                await station.call(
                    call21.NotifyEVChargingNeeds(evse_id=1, charging_needs=charging_needs),
                    suppress=False,
                    skip_schema_validation=True,  # the station's own check would stop it
                )
            heartbeat = await station.call(call21.Heartbeat(), suppress=False)
            assert heartbeat.current_time, "the connection stays up"
            assert csms.charging_needs("NEEDS-1", 1) is None
            assert csms.sink.charging_needs == []  # type: ignore[attr-defined]
    finally:
        await csms.stop()


@pytest.mark.parametrize(
    ("protocol", "send", "sent"),
    [("ocpp2.0.1", True, True), ("ocpp2.0.1", None, False), ("ocpp2.1", False, False)],
)
async def test_simulator_sends_needs_when_its_evse_spec_asks(
    protocol: str, send: bool | None, sent: bool, t0: int, clock: Any
) -> None:
    depart = t0 + 4 * 3600
    spec = StationSpec(
        f"SIM-{protocol}",
        PASSWORD,
        protocol,
        [EvseSpec(1, ev(t0, departure_unix=depart, soc_pct=50), send_charging_needs=send)],
    )
    async with running([spec], clock) as (csms, _fleet):
        await sleep_until(clock, t0 + 130)  # plugged in at t0+60
        assert csms.session(spec.station_id).evse(1).transaction_id is not None
        needs = csms.charging_needs(spec.station_id, 1)
        if not sent:
            assert needs is None
            return
        assert needs is not None
        assert needs.departure_unix == depart
        assert needs.energy_amount_wh == 30_000  # 50 % of 60 kWh up to a 100 % target
        assert needs.requested_energy_transfer == "AC_three_phase"
