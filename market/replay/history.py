"""Meter history before the delivery day, and the warning when a baseline has no data.

Why: the ``x_of_y`` baseline averages metered power of like days before delivery and
``meter_before`` the hour before activation; a replay whose meters start at delivery gives
them nothing, so every order is unverifiable and pays 0. A scenario's ``history`` section
supplies those days: day D-j repeats the delivery day's stays with each EV charging
uncontrolled (the model the FSP's prognosis uses, :func:`market.agents.fleet.baseline`),
scaled by ``day_scale_ppm[j-1]``. The readings are signed with each station's meter key and
kept in the market store as the CSMS keeps live ones, so they enter the delivery bundle with
the delivery day's readings and the auditor recomputes the same baseline. The meters then
start the delivery day from the registers the history ends with.

Pure functions; :func:`market.replay.delivery.start_stations` stores the readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.ocpp.signing import public_key_hex
from clearing.settlement.meter import SignedMeterReading, sign_reading
from market.agents.fleet import FleetPolicy, Horizon, baseline, build_frame
from market.replay.grid import ReplayGrid
from market.replay.scenario import Scenario, ScenarioProblem
from market.replay.world import Stay, agent_ev, settlement_rules, station_key

__all__ = ["MeterHistory", "baseline_warnings", "meter_history"]

DAY_S = 86_400
_FULL_PPM = 1_000_000


@dataclass(frozen=True)
class HistoryReading:
    """One signed history reading as the CSMS would keep it (power of the ISP it starts)."""

    reading: SignedMeterReading
    power_w: int
    public_key: str


@dataclass
class MeterHistory:
    """History readings, and each connector's registers (Wh) when its station starts."""

    readings: list[HistoryReading] = field(default_factory=list)
    registers: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)


def baseline_warnings(scenario: Scenario) -> list[ScenarioProblem]:
    """Named warnings for a baseline method that has no data to work on (the replay still
    runs: the orders it cannot verify pay 0, which may be what the scenario shows)."""
    rules = settlement_rules(scenario)
    days = scenario.history.days if scenario.history is not None else 0
    out: list[ScenarioProblem] = []
    if rules.baseline_method == "x_of_y":
        usable = min(days, rules.x_of_y_y)
        if usable < rules.x_of_y_x:
            out.append(
                ScenarioProblem(
                    path="market.baseline",
                    reason=(
                        f"x_of_y averages {rules.x_of_y_x} of the last {rules.x_of_y_y} like "
                        f"days of meter readings, but the scenario has {days} history day(s): "
                        f"every order is unverifiable and pays 0 (add history: "
                        f"{{days: {rules.x_of_y_y}}})"
                    ),
                )
            )
    elif rules.baseline_method == "meter_before" and days == 0:
        out.append(
            ScenarioProblem(
                path="market.baseline",
                reason=(
                    f"meter_before averages the {rules.meter_before_window_s} s before "
                    f"activation, but meters start {scenario.period.meter_interval_s} s before "
                    f"delivery: orders in the first {rules.meter_before_window_s} s of delivery "
                    f"are unverifiable and pay 0 (add history: {{days: 1}})"
                ),
            )
        )
    return out


def first_sample(scenario: Scenario) -> int:
    """When the stations start sampling: one meter interval before the first delivery."""
    return (
        min(scenario.at(s.delivery_start) for s in scenario.sessions)
        - scenario.period.meter_interval_s
    )


def _window(scenario: Scenario) -> Horizon:
    """The delivery day's ISPs that history repeats: first delivery start, at most one day."""
    isp_s = scenario.period.isp_s
    start = min(scenario.at(s.delivery_start) for s in scenario.sessions)
    end = min(max(scenario.at(s.delivery_end) for s in scenario.sessions), start + DAY_S)
    return Horizon(start_unix=start, n_isps=max(1, (end - start) // isp_s), isp_s=isp_s)


def meter_history(scenario: Scenario, grid: ReplayGrid, stays: list[Stay]) -> MeterHistory:
    """Every connector's history readings at ISP boundaries of the window on days D-N..D-1,
    with registers carried over from day to day (no reading at or after the stations start)."""
    out = MeterHistory()
    spec = scenario.history
    if spec is None:
        return out
    horizon = _window(scenario)
    stop = first_sample(scenario)
    isp_s = horizon.isp_s
    policy = FleetPolicy()
    for stay in sorted(stays, key=lambda s: (s.station, s.evse)):
        frame = build_frame(agent_ev(scenario, grid, stay), horizon, policy)
        powers, _ = baseline(frame, horizon)
        key = station_key(scenario.seed, stay.station)
        public_key = public_key_hex(key)
        import_j = export_j = 0
        last_ts = -1
        for j in range(spec.days, 0, -1):  # oldest day first: registers only grow
            scale = spec.day_scale_ppm[j - 1] if spec.day_scale_ppm else _FULL_PPM
            day_start = horizon.start_unix - j * DAY_S
            for k in range(horizon.n_isps + 1):
                ts = day_start + k * isp_s
                if ts >= stop:
                    break
                power = powers[k] * scale // _FULL_PPM if k < horizon.n_isps else 0
                if ts + isp_s >= stop:
                    power = 0  # no reading closes this ISP: keep the registers where they are
                if ts > last_ts:  # a one-day window: day D-j+1 starts where D-j ended
                    last_ts = ts
                    reading = sign_reading(
                        key,
                        station=stay.station,
                        evse=stay.evse,
                        timestamp=ts,
                        import_wh=import_j // 3600,
                        export_wh=export_j // 3600,
                    )
                    out.readings.append(HistoryReading(reading, power, public_key))
                if power > 0:
                    import_j += power * isp_s
                else:
                    export_j -= power * isp_s
        out.registers[(stay.station, stay.evse)] = (import_j // 3600, export_j // 3600)
    return out
