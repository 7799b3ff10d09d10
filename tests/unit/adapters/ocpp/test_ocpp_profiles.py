"""Charging profiles as the simulated station reads them, for all three versions."""

from __future__ import annotations

import pytest

from adapters.ocpp.simulator.profiles import (
    ProfileError,
    active_period,
    composite_periods,
    format_time,
    parse_set_charging_profile,
)

T = 1_790_000_100


def v21(periods: list[dict]) -> dict:
    return {"evseId": 1, "chargingProfile": {
        "id": 7, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": "tx",
        "chargingSchedule": [{"id": 7, "startSchedule": format_time(T), "duration": 1800,
                              "chargingRateUnit": "W",
                              "chargingSchedulePeriod": periods}]}}  # fmt: skip


def test_v21_central_setpoint_periods() -> None:
    prof = parse_set_charging_profile("ocpp2.1", v21([
        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": 7000.0, "limit": 7000.0,
         "dischargeLimit": 0.0},
        {"startPeriod": 900, "operationMode": "CentralSetpoint", "setpoint": -5000.0,
         "limit": 0.0, "dischargeLimit": -5000.0},
    ]), now=T - 100)  # fmt: skip
    assert active_period([prof], T).request() == ("setpoint", 7000)
    assert active_period([prof], T + 900).request() == ("setpoint", -5000)
    assert active_period([prof], T + 1800) is None
    comp = composite_periods("ocpp2.1", [prof], T + 600, 600, 22_000)
    assert [(p["startPeriod"], p["setpoint"]) for p in comp] == [(0, 7000.0), (300, -5000.0)]


def test_v16_limit_profile() -> None:
    payload = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 3, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"startSchedule": format_time(T), "duration": 900,
                             "chargingRateUnit": "W",
                             "chargingSchedulePeriod": [
                                 {"startPeriod": 0, "limit": 3000.0}]}}}  # fmt: skip
    prof = parse_set_charging_profile("ocpp1.6", payload, now=T)
    assert active_period([prof], T + 10).request() == ("limit", 3000)
    comp = composite_periods("ocpp1.6", [prof], T + 600, 600, 22_000)
    assert comp == [{"startPeriod": 0, "limit": 3000.0}, {"startPeriod": 300, "limit": 22000.0}]


def test_amps_converted_to_watts() -> None:
    payload = v21([{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}])
    payload["chargingProfile"]["chargingSchedule"][0]["chargingRateUnit"] = "A"
    prof = parse_set_charging_profile("ocpp2.0.1", payload, now=T)
    assert active_period([prof], T).request() == ("limit", 16 * 230 * 3)


def test_uninterpretable_profile_named() -> None:
    with pytest.raises(ProfileError, match="SetChargingProfile"):
        parse_set_charging_profile("ocpp2.1", {"evseId": 1}, now=T)
