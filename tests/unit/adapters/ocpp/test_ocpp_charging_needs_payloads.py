"""EV charging needs: parsing into the typed record and the simulator's payloads."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.messages import Call

from adapters.ocpp.charging_needs import parse_charging_needs
from adapters.ocpp.schemas import check_payload
from adapters.ocpp.simulator.charging_needs import charging_needs_payload
from adapters.ocpp.simulator.ev import EvModel

T0 = 1_796_472_000


def _ev() -> EvModel:
    return EvModel(
        battery_wh=60_000,
        soc_pct=25,
        max_charge_w=11_000,
        max_discharge_w=7_000,
        arrival_unix=T0,
        departure_unix=T0 + 8 * 3600,
        target_soc_pct=80,
    )


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_simulator_payload_fits_the_schema_and_parses_back(protocol: str) -> None:
    payload = charging_needs_payload(_ev(), 2, "2026-12-05T06:00:00Z", protocol)
    await check_payload(Call("1", "NotifyEVChargingNeeds", payload), protocol[4:])
    snake: Any = camel_to_snake_case(payload)
    needs = parse_charging_needs("S", 2, protocol, snake["charging_needs"], received_at=T0)
    assert needs.departure_unix == T0 + 8 * 3600
    assert needs.energy_amount_wh == 33_000  # 25 % -> 80 % of 60 kWh
    if protocol == "ocpp2.1":
        assert (needs.max_charge_power_w, needs.max_discharge_power_w) == (11_000, 7_000)
        assert needs.bidirectional and needs.target_soc_pct == 80
    else:
        assert needs.max_discharge_power_w is None and not needs.bidirectional


def test_absent_fields_stay_none() -> None:
    needs = parse_charging_needs("S", 1, "ocpp2.1", {"requested_energy_transfer": "DC"}, 5)
    assert needs.departure_unix is None and needs.energy_amount_wh is None
    assert needs.max_charge_power_w is None and needs.control_mode is None


@pytest.mark.parametrize(
    ("evse_id", "charging_needs"),
    [
        (0, {"requested_energy_transfer": "DC"}),
        (1, {"requested_energy_transfer": "DC", "dc_charging_parameters": {"energy_amount": -1}}),
        (1, {"requested_energy_transfer": "DC", "dc_charging_parameters": {"ev_max_power": 1e11}}),
        (1, {"requested_energy_transfer": "DC", "departure_time": "tomorrow"}),
    ],
)
def test_absurd_needs_are_refused(evse_id: int, charging_needs: dict[str, Any]) -> None:
    with pytest.raises(PropertyConstraintViolationError):
        parse_charging_needs("S", evse_id, "ocpp2.1", charging_needs, 0)


def test_1_6_has_no_charging_needs() -> None:
    with pytest.raises(ValueError, match=r"2\.x only"):
        charging_needs_payload(_ev(), 1, "2026-12-05T06:00:00Z", "ocpp1.6")
