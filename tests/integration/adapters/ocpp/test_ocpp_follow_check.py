"""Issue 17 item 2: the follow check for each kind of station (npm ocpp-rpc, strict mode).

Power from the power measurand where the station reports one (per phase summed where only
phases come), otherwise from the energy-register delta since the previous sample, also per
phase. Each station meters three minutes of one ordered ISP; two judged samples decide.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from scripted_peer import needs_node, scripted_peer

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from adapters.ocpp.simulator.profiles import format_time
from adapters.ocpp.sink import InMemorySink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90), needs_node]

PW = "follow-pw"
ISP_S = 900
PHASES = ("L1", "L2", "L3")


def _sampled(protocol: str, measurand: str, value: int, phase: str | None) -> dict[str, Any]:
    sv: dict[str, Any] = {"measurand": measurand, "context": "Sample.Periodic"}
    sv["value"] = str(value) if protocol == "ocpp1.6" else value
    if phase is not None:
        sv["phase"] = phase
    return sv


def _sample(protocol: str, kind: str, at: int, import_wh: int, power_w: int) -> dict[str, Any]:
    """One meterValue entry in the shape of ``kind`` of station."""
    energy, power = "Energy.Active.Import.Register", "Power.Active.Import"
    if kind == "power":
        values = [_sampled(protocol, energy, import_wh, None),
                  _sampled(protocol, power, power_w, None)]  # fmt: skip
    elif kind == "phase_power":
        values = [_sampled(protocol, energy, import_wh, None)] + [
            _sampled(protocol, power, power_w // 3, p) for p in PHASES
        ]
    elif kind == "energy":
        values = [_sampled(protocol, energy, import_wh, None)]
    else:  # phase_energy: the registers per phase only, no total, no power
        values = [_sampled(protocol, energy, import_wh // 3, p) for p in PHASES]
    return {"timestamp": format_time(at), "sampledValue": values}


async def _metered(protocol: str, kind: str, ordered_w: int, delivered_w: int) -> Any:
    """Order ``ordered_w`` for one ISP, meter ``delivered_w``; return (ISP outcome, sink)."""
    sink = InMemorySink()
    csms = Csms(credentials={"FC-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    try:
        async with scripted_peer(csms.url, "FC-1", PW, protocol) as peer:
            await peer.handle("GetCompositeSchedule", {"status": "Rejected"})
            start = (int(time.time()) // ISP_S + 1) * ISP_S
            outcome = await csms.dispatcher.dispatch(
                {("FC-1", 1): [IspSetpoint(start, ISP_S, ordered_w)]}
            )
            assert outcome[("FC-1", 1)][0].status == DispatchStatus.ACCEPTED
            key = "connectorId" if protocol == "ocpp1.6" else "evseId"
            import_wh = 3_000
            for minute in range(4):
                at = start + 60 * minute
                payload = {key: 1, "meterValue": [_sample(protocol, kind, at, import_wh,
                                                          delivered_w)]}  # fmt: skip
                answer = await peer.call("MeterValues", payload)
                assert answer["event"] == "result", answer
                import_wh += delivered_w * 60 // 3600
            assert (await peer.close())["failures"] == []
        return csms.dispatcher.status("FC-1", 1)[0], sink
    finally:
        await csms.stop()


KINDS = ["power", "phase_power", "energy", "phase_energy"]


@pytest.mark.parametrize("kind", KINDS)
async def test_v21_setpoint_followed_and_not_followed(kind: str) -> None:
    followed, sink = await _metered("ocpp2.1", kind, 7_200, 7_200)
    assert followed.status == DispatchStatus.ACCEPTED, followed
    assert followed.samples >= 2
    assert sink.readings[1].import_wh - sink.readings[0].import_wh == 120
    ignored, _ = await _metered("ocpp2.1", kind, 7_200, 0)
    assert ignored.status == DispatchStatus.NOT_FOLLOWED, ignored


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("kind", KINDS)
async def test_cap_exceeded_threefold_is_not_followed(protocol: str, kind: str) -> None:
    over, _ = await _metered(protocol, kind, 3_000, 9_000)
    assert over.status == DispatchStatus.NOT_FOLLOWED, over
    under, _ = await _metered(protocol, kind, 3_000, 2_400)
    assert under.status == DispatchStatus.ACCEPTED, under
