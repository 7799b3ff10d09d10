"""Scenario entries -> the objects the parts of the system take: agent EVs, simulated stations,
station faults, settlement rules. Pure functions, no I/O.

A scenario EVSE can host several EVs one after another. The station simulator models one EV
per EVSE, so each stay gets its own connector id on the station (``evse * 100 + k``): the
k-th stay on EVSE ``evse``. Stays never overlap (the scenario validation checks that), so the
station's power limits hold, and the meter registers of a stay are its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account

from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from clearing.settlement.rules import SettlementRules
from market.agents.fleet import EV
from market.agents.stays import AnnouncedStay, StayBooking, announced_ev
from market.replay.derive import derived_key, derived_secret
from market.replay.grid import ReplayGrid
from market.replay.scenario import EvSpec, Scenario

FSP_ROLES = ("EMSP", "FLEET_OPERATOR", "BUILDING_MANAGER")


@dataclass(frozen=True)
class Stay:
    """One EV parked at one connector of a station."""

    ev: EvSpec
    station: str
    evse: int  # the connector id used over OCPP and in the asset registry
    scenario_evse: int
    max_import_w: int
    max_export_w: int
    arrival: int
    departure: int


def onchain_role(role: str) -> str:
    """The contract role of a scenario role: DSO, FSP, CPO (registers station keys), or none."""
    if role in ("DSO", "CPO"):
        return role
    if role in FSP_ROLES:
        return "FSP"
    return ""


def stays(scenario: Scenario) -> list[Stay]:
    """Every EV stay with its connector id, in scenario order of stations then arrival."""
    stations = {s.id: s for s in scenario.stations}
    by_evse: dict[tuple[str, int], list[EvSpec]] = defaultdict(list)
    for ev in scenario.evs:
        by_evse[(ev.station, ev.evse)].append(ev)
    out: list[Stay] = []
    for (station, evse), evs in sorted(by_evse.items()):
        spec = next(e for e in stations[station].evses if e.id == evse)
        for k, ev in enumerate(sorted(evs, key=lambda e: (scenario.at(e.arrival), e.id)), 1):
            out.append(
                Stay(
                    ev=ev,
                    station=station,
                    evse=evse * 100 + k,
                    scenario_evse=evse,
                    max_import_w=spec.max_import_w,
                    max_export_w=spec.max_export_w,
                    arrival=scenario.at(ev.arrival),
                    departure=scenario.at(ev.departure),
                )
            )
    return out


def _pct_wh(battery_wh: int, pct: int) -> int:
    return battery_wh * pct // 100


def announced_stay(scenario: Scenario, grid: ReplayGrid, stay: Stay) -> AnnouncedStay:
    """What the EV user announces to their FSP of one stay: bounds, preferences and any
    booking inside the stay (``flexmarket live`` hands the same to each FSP gateway)."""
    ev = stay.ev
    bookings = []
    for i, b in enumerate(scenario.bookings):
        if b.ev != ev.id:
            continue
        depart, back = scenario.at(b.depart), scenario.at(b.back)
        if stay.arrival < depart < stay.departure:
            bookings.append(
                StayBooking(
                    booking_id=f"{ev.id}-booking-{i}",
                    start_unix=depart,
                    end_unix=back,
                    soc_wh=_pct_wh(ev.battery_wh, b.soc_pct),
                    return_soc_wh=_pct_wh(ev.battery_wh, ev.reserve_soc_pct),
                )
            )
    return AnnouncedStay(
        ev_id=ev.id,
        station=stay.station,
        evse_id=stay.evse,
        congestion_point=grid.station_point[stay.station],
        bus=grid.station_bus[stay.station],
        battery_wh=ev.battery_wh,
        arrival_soc_pct=ev.soc_arrival_pct,
        arrival_unix=stay.arrival,
        departure_unix=stay.departure,
        max_charge_w=min(ev.max_charge_w, stay.max_import_w),
        max_discharge_w=min(ev.max_discharge_w, stay.max_export_w),
        min_departure_soc_pct=min_departure_pct(scenario, stay),
        reserve_soc_pct=ev.reserve_soc_pct,
        target_soc_pct=ev.target_soc_pct,
        min_price_per_mwh=ev.min_price_per_mwh,
        opt_in=ev.opt_in,
        bookings=bookings,
    )


def agent_ev(scenario: Scenario, grid: ReplayGrid, stay: Stay) -> EV:
    """The FSP's view of one EV stay (:func:`market.agents.stays.announced_ev`)."""
    return announced_ev(announced_stay(scenario, grid, stay))


def min_departure_pct(scenario: Scenario, stay: Stay) -> int:
    """The SoC the EV must leave with: its own minimum, raised by a booking starting then."""
    pct = stay.ev.min_departure_soc_pct
    for b in scenario.bookings:
        if b.ev == stay.ev.id and scenario.at(b.depart) >= stay.departure:
            pct = max(pct, b.soc_pct)
    return pct


def station_key(seed: int, station: str) -> str:
    return derived_key(seed, f"station:{station}")


def station_address(seed: int, station: str) -> str:
    return str(Account.from_key(station_key(seed, station)).address).lower()


def station_faults(scenario: Scenario, station: str) -> tuple[StationFaults, list[str]]:
    """The simulator faults of one station, and the fault kinds the replay injects itself."""
    kw: dict[str, object] = {}
    replay_side: list[str] = []
    for f in scenario.faults:
        if f.station != station:
            continue
        at = scenario.at(f.at)
        if f.kind == "station_offline":
            kw.update(drop_at_unix=at, drop_for_s=f.duration_s)
        elif f.kind == "ignore_profile":
            kw["ignore_profiles"] = True
        elif f.kind == "meter_gap":
            kw.update(gap_from_unix=at, gap_to_unix=at + f.duration_s)
        elif f.kind == "late_meter":
            kw["clock_late_s"] = f.duration_s
        else:
            replay_side.append(f.kind)  # forged_reading: posted by the replay, see runner
    return StationFaults(**kw), replay_side  # type: ignore[arg-type]


def fault_stations(scenario: Scenario) -> dict[str, list[str]]:
    """Station id -> the fault kinds injected there (for explaining SoC violations)."""
    out: dict[str, list[str]] = {}
    for st in scenario.stations:
        faults, extra = station_faults(scenario, st.id)
        kinds = sorted({f.kind for f in scenario.faults if f.station == st.id} | set(extra))
        if kinds:
            out[st.id] = kinds
        del faults
    return out


def station_specs(
    scenario: Scenario,
    all_stays: list[Stay],
    registers: Mapping[tuple[str, int], tuple[int, int]] | None = None,
) -> list[StationSpec]:
    """One simulated station per scenario station, one connector per EV stay on it;
    ``registers`` (Wh, import and export) where a connector's meter history left them."""
    by_station: dict[str, list[Stay]] = defaultdict(list)
    for s in all_stays:
        by_station[s.station].append(s)
    specs = []
    for st in sorted(scenario.stations, key=lambda s: s.id):
        evses = []
        for s in by_station.get(st.id, []):
            ev = s.ev
            import_wh, export_wh = (registers or {}).get((s.station, s.evse), (0, 0))
            evses.append(
                EvseSpec(
                    evse_id=s.evse,
                    max_power_w=s.max_import_w,
                    initial_import_wh=import_wh,
                    initial_export_wh=export_wh,
                    ev=EvModel(
                        battery_wh=ev.battery_wh,
                        soc_pct=float(ev.soc_arrival_pct),
                        max_charge_w=min(ev.max_charge_w, s.max_import_w),
                        max_discharge_w=min(ev.max_discharge_w, s.max_export_w),
                        arrival_unix=s.arrival,
                        departure_unix=s.departure,
                        round_trip_efficiency=1.0,  # the FSP plans without losses; keep them equal
                        reserve_soc_pct=ev.reserve_soc_pct,
                        # the car's own charge limit; the user's target is the FSP's business
                        # (it sends setpoints for every EV), so a charger limit never stops early
                        target_soc_pct=100,
                    ),
                )
            )
        if not evses:
            continue
        faults, _ = station_faults(scenario, st.id)
        specs.append(
            StationSpec(
                station_id=st.id,
                password=derived_secret(scenario.seed, f"station-password:{st.id}"),
                protocol=f"ocpp{st.ocpp}",
                evses=evses,
                private_key=bytes.fromhex(station_key(scenario.seed, st.id)[2:]),
                faults=faults,
            )
        )
    return specs


def settlement_rules(scenario: Scenario) -> SettlementRules:
    mk = scenario.market
    return SettlementRules(
        isp_s=scenario.period.isp_s,
        baseline_method=mk.baseline,
        x_of_y_x=min(mk.x_of_y_x, mk.x_of_y_y),  # validation names x > y; never raise here
        x_of_y_y=mk.x_of_y_y,
        delivery_tolerance_ppm=mk.tolerance_ppm,
        penalty_factor_ppm=mk.penalty_factor_ppm,
        max_gap_s=max(900, 2 * scenario.period.meter_interval_s),
    )
