"""The fleet model takes an EV's own charging needs (from the CSMS) into its parameters."""

from __future__ import annotations

import dataclasses

import pytest
from fleet_builders import T0, ev

from adapters.ocpp.charging_needs import EvChargingNeeds
from market.agents.fleet import FleetError, ev_with_charging_needs

NEEDS = EvChargingNeeds(
    station_id="cs-ev1",
    evse_id=1,
    protocol="ocpp2.1",
    requested_energy_transfer="AC_BPT",
    departure_unix=T0 + 6 * 3600,
    energy_amount_wh=30_000,
    min_charge_power_w=None,
    max_charge_power_w=7_400,
    min_discharge_power_w=0,
    max_discharge_power_w=5_000,
    target_soc_pct=90,
    control_mode=None,
    mobility_needs_mode=None,
    received_at=T0,
)


def test_needs_set_departure_energy_and_tighten_power() -> None:
    updated = ev_with_charging_needs(ev(), NEEDS)
    assert updated.preferences.departure_unix == T0 + 6 * 3600
    assert updated.preferences.min_departure_soc_wh == 50_000  # 20 kWh + 30 kWh asked
    assert (updated.max_charge_w, updated.max_discharge_w) == (7_400, 5_000)
    assert updated.target_soc_wh == 54_000  # 90 % of 60 kWh


def test_needs_never_loosen_the_model() -> None:
    generous = dataclasses.replace(
        NEEDS, energy_amount_wh=1, max_charge_power_w=50_000, max_discharge_power_w=50_000
    )
    updated = ev_with_charging_needs(ev(min_departure_soc_wh=40_000), generous)
    assert updated.preferences.min_departure_soc_wh == 40_000  # the user's minimum stands
    assert (updated.max_charge_w, updated.max_discharge_w) == (11_000, 11_000)
    huge = dataclasses.replace(NEEDS, energy_amount_wh=10**9)
    assert ev_with_charging_needs(ev(), huge).preferences.min_departure_soc_wh == 60_000


def test_absent_fields_keep_the_model_and_unidirectional_modes_forbid_discharge() -> None:
    bare = EvChargingNeeds("cs-ev1", 1, "ocpp2.0.1", "AC_three_phase", *[None] * 9, T0)
    before = ev()
    updated = ev_with_charging_needs(before, bare)
    assert updated == dataclasses.replace(before, max_discharge_w=0)


def test_needs_of_another_evse_are_refused() -> None:
    with pytest.raises(FleetError, match="charging needs of"):
        ev_with_charging_needs(ev(station="elsewhere"), NEEDS)
