"""Replay scenarios: the YAML format, its JSON schema and the checks run before anything starts.

A scenario describes one or more market days end to end: the grid, the market rules, the
participants, the stations and EVs, bookings, revenue-sharing contracts, faults to inject and the
market sessions. Everything is validated up front and every problem is reported at once, by
path, so a malformed file never starts a chain, a service or a station.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from market.agents.intraday import DEFAULT_GATE_BEFORE_DELIVERY_S, intraday_windows

OcppVersion = Literal["1.6", "2.0.1", "2.1"]
ParticipantRole = Literal["DSO", "EMSP", "FLEET_OPERATOR", "CPO", "BUILDING_MANAGER", "EV_USER"]
_FSP_ROLES = {"EMSP", "FLEET_OPERATOR", "BUILDING_MANAGER"}
#: A session is opened, and its FSPs bid, this long before its gate closure: in the replay and
#: in `flexmarket live` alike, whose equal settlements depend on it.
OPENS_BEFORE_GATE_S = 3600
_CLOCK_RE = re.compile(r"^(?:D(?P<day>[+-]\d+))?(?:T)?(?P<h>[0-2]\d):(?P<m>[0-5]\d)$")
Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
Ppm = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
PositiveW = Annotated[StrictInt, Field(gt=0, le=10_000_000)]
NonNegativeW = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
Units = Annotated[StrictInt, Field(ge=0, le=10**15)]
ClockTime = Annotated[
    StrictStr,
    Field(
        pattern=_CLOCK_RE.pattern,
        description="Local time of the delivery day 'HH:MM', optionally shifted by whole days: "
        "'D-1T12:00' is noon of the day before.",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Model):
    """The delivery day (UTC midnight) and the imbalance settlement period."""

    day: dt.date
    isp_s: Annotated[StrictInt, Field(gt=0, le=3600)] = 900
    meter_interval_s: Annotated[StrictInt, Field(gt=0, le=3600)] = Field(
        default=300, description="Stations sample their meters on this grid (divides the ISP)."
    )


class CongestionPointSpec(_Model):
    """Override for one congestion point of the grid (transformer or feeder)."""

    id: Id
    element: Literal["transformer", "feeder"]
    index: Annotated[StrictInt, Field(ge=0)] = 0
    limit_pct: Annotated[StrictInt, Field(gt=0, le=200)] = 100


class GridSpec(_Model):
    """Which network to load and how to drive its load and PV profiles."""

    kind: Literal["simbench", "cigre_lv", "pandapower_json"] = "simbench"
    code: StrictStr | None = "1-LV-semiurb4--2-sw"
    file: StrictStr | None = None
    profile_date: dt.date | None = Field(
        default=None, description="Day of the SimBench profile year used as the forecast."
    )
    load_scale_ppm: Ppm | Annotated[StrictInt, Field(gt=1_000_000, le=20_000_000)] = 1_000_000
    pv_scale_ppm: Ppm | Annotated[StrictInt, Field(gt=1_000_000, le=20_000_000)] = 1_000_000
    voltage_band_pu_ppm: tuple[StrictInt, StrictInt] = (950_000, 1_050_000)
    congestion_points: list[CongestionPointSpec] = Field(default_factory=list)
    buses: list[Id] = Field(
        default_factory=list,
        description="Bus names stations may attach to. Empty: any bus of the loaded network.",
    )


class MarketRules(_Model):
    """Pricing, baseline and settlement rules; all integers (ppm for ratios)."""

    pricing: Literal["pay_as_bid", "pay_as_clear"] = "pay_as_bid"
    baseline: Literal["nominated", "meter_before", "x_of_y"] = "nominated"
    x_of_y_x: Annotated[StrictInt, Field(gt=0, le=28)] = 4
    x_of_y_y: Annotated[StrictInt, Field(gt=0, le=28)] = Field(
        default=5, description="x_of_y: average the X (highest) of the last Y like days."
    )
    tolerance_ppm: Ppm = 50_000
    penalty_factor_ppm: Ppm | Annotated[StrictInt, Field(gt=1_000_000, le=10_000_000)] = 500_000
    challenge_window_s: Annotated[StrictInt, Field(ge=0, le=7 * 86400)] = 3600
    meter_grace_s: Annotated[StrictInt, Field(ge=0, le=86400)] = 900
    dso_alternative_cost_per_mwh: Units = 250_000_000
    platform_fee_ppm: Ppm = 10_000
    solver_time_limit_s: Annotated[StrictInt, Field(gt=0, le=3600)] = 60
    mip_gap_ppm: Ppm = 1_000


class Participant(_Model):
    id: Id
    role: ParticipantRole
    name: StrictStr
    eic: StrictStr | None = None
    source: StrictStr | None = Field(default=None, description="Seed table the actor comes from.")


class EvseSpec(_Model):
    id: Annotated[StrictInt, Field(ge=1, le=64)]
    max_import_w: PositiveW
    max_export_w: NonNegativeW = 0


class StationSpec(_Model):
    id: Id
    ocpp: StrictStr = Field(description="OCPP version: 1.6, 2.0.1 or 2.1 (2.1 for V2G).")
    bus: StrictStr
    cpo: Id
    evses: list[EvseSpec] = Field(min_length=1)
    source: StrictStr | None = None


class EvSpec(_Model):
    id: Id
    fsp: Id
    user: Id | None = None
    battery_wh: Annotated[StrictInt, Field(gt=0, le=500_000)]
    max_charge_w: PositiveW
    max_discharge_w: NonNegativeW = 0
    station: Id
    evse: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    arrival: ClockTime
    departure: ClockTime
    soc_arrival_pct: Percent
    target_soc_pct: Percent = 80
    min_departure_soc_pct: Percent = 80
    reserve_soc_pct: Percent = 20
    min_price_per_mwh: Units = 0
    opt_in: bool = True
    incentive_per_kwh_units: Units = 0
    source: StrictStr | None = None


class BookingSpec(_Model):
    ev: Id
    user: Id
    depart: ClockTime
    back: ClockTime
    soc_pct: Percent
    source: StrictStr | None = None


class RevenueContract(_Model):
    fsp: Id
    ev_user_incentive_ppm: Ppm = 0
    fleet_operator: Id | None = None
    fleet_share_ppm: Ppm = 0
    cpo_fee_per_kwh_units: Units = 0
    platform_fee_ppm: Ppm = 0
    source: StrictStr | None = None


class FaultSpec(_Model):
    kind: Literal["station_offline", "ignore_profile", "meter_gap", "late_meter", "forged_reading"]
    station: Id
    at: ClockTime
    duration_s: Annotated[StrictInt, Field(ge=0, le=86400)] = 0
    source: StrictStr | None = None


class HistorySpec(_Model):
    """Meter history of the days before the delivery day, for baselines that look back.

    Why: an X-of-Y baseline averages like days of metered power; without them every order is
    unverifiable and pays 0. Day D-j repeats the delivery day's stays charging uncontrolled
    (the FSP's own baseline model), scaled by ``day_scale_ppm[j-1]`` (default 1 000 000).
    """

    days: Annotated[StrictInt, Field(ge=1, le=28)]
    day_scale_ppm: list[Annotated[StrictInt, Field(ge=0, le=2_000_000)]] = Field(
        default_factory=list,
        description="Per day back (D-1 first); empty: every day at 1 000 000 ppm.",
    )


class SessionSpec(_Model):
    id: Id
    kind: Literal["day_ahead", "intraday"] = "day_ahead"
    gate_closure: ClockTime = "D-1T12:00"
    delivery_start: ClockTime = "00:00"
    delivery_end: ClockTime = "D+1T00:00"


class IntradaySchedule(_Model):
    """Rolling intraday sessions, expanded into ``sessions`` before anything runs.

    One session every ``every_s`` whose delivery starts at ``from`` and lasts ``delivery_s``,
    as long as it ends by ``until``; each gate closes ``gate_before_delivery_s`` before its
    delivery starts, so the DSO can buy flexibility on a near-real-time forecast.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    every_s: Annotated[StrictInt, Field(gt=0, le=86400)] = 3600
    gate_before_delivery_s: Annotated[StrictInt, Field(ge=60, le=86400)] = (
        DEFAULT_GATE_BEFORE_DELIVERY_S
    )
    delivery_s: Annotated[StrictInt, Field(gt=0, le=86400)] = 3600
    from_: ClockTime = Field(alias="from", description="Delivery start of the first session.")
    until: ClockTime = Field(description="No session delivers past this time.")
    id_prefix: Id = "intraday"


_MAX_INTRADAY_SESSIONS = 96


class Scenario(_Model):
    """A replayable market scenario."""

    name: Id
    description: StrictStr = ""
    seed: StrictInt = 0
    period: Period
    grid: GridSpec = Field(default_factory=GridSpec)
    market: MarketRules = Field(default_factory=MarketRules)
    participants: list[Participant] = Field(min_length=1)
    stations: list[StationSpec] = Field(default_factory=list)
    evs: list[EvSpec] = Field(default_factory=list)
    bookings: list[BookingSpec] = Field(default_factory=list)
    contracts: list[RevenueContract] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    history: HistorySpec | None = None
    sessions: list[SessionSpec] = Field(min_length=1)
    intraday: IntradaySchedule | None = None

    def at(self, clock: str) -> int:
        """Unix seconds of a scenario clock time ('HH:MM' or 'D±nTHH:MM') on the delivery day."""
        return clock_to_unix(self.period.day, clock)


class ScenarioProblem(BaseModel):
    path: str
    reason: str


class ScenarioError(ValueError):
    """The scenario file is malformed; ``problems`` lists every problem by path."""

    def __init__(self, source: str, problems: list[ScenarioProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p.path}: {p.reason}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def clock_to_unix(day: dt.date, clock: str) -> int:
    match = _CLOCK_RE.match(clock)
    if match is None:
        raise ValueError(f"not a scenario clock time: {clock!r}")
    shift = int(match.group("day") or 0)
    hour, minute = int(match.group("h")), int(match.group("m"))
    if hour > 23:
        raise ValueError(f"hour out of range in {clock!r}")
    midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
    return int((midnight + dt.timedelta(days=shift, hours=hour, minutes=minute)).timestamp())


def unix_to_clock(day: dt.date, t: int) -> str:
    """The scenario clock time of unix second ``t`` (whole minutes) relative to ``day``."""
    midnight = int(dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC).timestamp())
    shift, rest = divmod(t - midnight, 86400)
    hour, minute = rest // 3600, rest % 3600 // 60
    return (f"D{shift:+d}T" if shift else "") + f"{hour:02d}:{minute:02d}"


def _intraday_problems(sc: Scenario) -> list[ScenarioProblem]:
    """Why the intraday schedule cannot be expanded (empty when it can)."""
    it = sc.intraday
    if it is None:
        return []
    problems: list[ScenarioProblem] = []

    def add(field: str, reason: str) -> None:
        problems.append(ScenarioProblem(path=f"intraday.{field}", reason=reason))

    for field in ("every_s", "gate_before_delivery_s", "delivery_s"):
        if getattr(it, field) % 60:
            add(field, "must be whole minutes (scenario clock times are HH:MM)")
    if it.delivery_s % sc.period.isp_s:
        add("delivery_s", f"is not a whole number of ISPs (period.isp_s = {sc.period.isp_s})")
    first, last = sc.at(it.from_), sc.at(it.until)
    if first + it.delivery_s > last:
        add("until", f"no session of delivery_s = {it.delivery_s} fits between from and until")
    elif (last - first - it.delivery_s) // it.every_s + 1 > _MAX_INTRADAY_SESSIONS:
        add("every_s", f"the schedule makes more than {_MAX_INTRADAY_SESSIONS} sessions")
    return problems


def expand_intraday(sc: Scenario) -> list[SessionSpec]:
    """The schedule's sessions in delivery order; ids name the delivery start (UTC)."""
    it = sc.intraday
    if it is None or _intraday_problems(sc):
        return []
    day = sc.period.day
    return [
        SessionSpec(
            id=f"{it.id_prefix}-{_utc_stamp(w.delivery_start_unix)}",
            kind="intraday",
            gate_closure=unix_to_clock(day, w.gate_closure_unix),
            delivery_start=unix_to_clock(day, w.delivery_start_unix),
            delivery_end=unix_to_clock(day, w.delivery_end_unix),
        )
        for w in intraday_windows(
            first_start_unix=sc.at(it.from_),
            until_unix=sc.at(it.until),
            every_s=it.every_s,
            delivery_s=it.delivery_s,
            gate_before_delivery_s=it.gate_before_delivery_s,
        )
    ]


def _utc_stamp(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y%m%dT%H%M")


def session_path(sc: Scenario, i: int) -> str:
    """Where session ``i`` of the expanded list comes from: ``sessions[i]`` or the schedule."""
    schedule = expand_intraday(sc) if sc.intraday is not None else []
    explicit = len(sc.sessions) - len(schedule)
    if not schedule or sc.sessions[explicit:] != schedule or i < explicit:
        return f"sessions[{i}]"
    return f"intraday (session {sc.sessions[i].id})"


def scenario_json_schema() -> dict[str, Any]:
    """JSON schema of the scenario format (published in docs/scenario.schema.json)."""
    return Scenario.model_json_schema()


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _cross_checks(sc: Scenario) -> list[ScenarioProblem]:
    """Rules that span several entries; pydantic has already checked each entry on its own."""
    problems: list[ScenarioProblem] = []

    def add(path: str, reason: str) -> None:
        problems.append(ScenarioProblem(path=path, reason=reason))

    def unique(items: list[Any], what: str) -> set[str]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                add(f"{what}[{i}].id", f"duplicate id {item.id!r}")
            seen.add(item.id)
        return seen

    roles = {p.id: p.role for p in sc.participants}
    unique(sc.participants, "participants")
    station_ids = unique(sc.stations, "stations")
    ev_ids = unique(sc.evs, "evs")
    seen_sessions: set[str] = set()
    for i, s in enumerate(sc.sessions):
        if s.id in seen_sessions:
            add(f"{session_path(sc, i)}.id", f"duplicate session id {s.id!r}")
        seen_sessions.add(s.id)
    if not any(r == "DSO" for r in roles.values()):
        add("participants", "at least one participant with role DSO is required")
    known_buses = set(sc.grid.buses)
    evses = {(s.id, e.id): s for s in sc.stations for e in s.evses}
    for i, st in enumerate(sc.stations):
        if st.ocpp not in ("1.6", "2.0.1", "2.1"):
            add(f"stations[{i}].ocpp", f"unknown OCPP version {st.ocpp!r} (use 1.6, 2.0.1 or 2.1)")
        if known_buses and st.bus not in known_buses:
            add(f"stations[{i}].bus", f"unknown bus {st.bus!r}; grid.buses lists the known ones")
        if roles.get(st.cpo) != "CPO":
            add(f"stations[{i}].cpo", f"{st.cpo!r} is not a participant with role CPO")
        if st.ocpp != "2.1" and any(e.max_export_w > 0 for e in st.evses):
            add(
                f"stations[{i}].evses",
                f"max_export_w > 0 needs OCPP 2.1; OCPP {st.ocpp} cannot express discharge",
            )
        seen_evse: set[int] = set()
        for j, e in enumerate(st.evses):
            if e.id in seen_evse:
                add(f"stations[{i}].evses[{j}].id", f"duplicate EVSE id {e.id}")
            seen_evse.add(e.id)
    for i, ev in enumerate(sc.evs):
        p = f"evs[{i}]"
        if roles.get(ev.fsp) not in _FSP_ROLES:
            add(f"{p}.fsp", f"{ev.fsp!r} is not an FSP (EMSP, FLEET_OPERATOR, BUILDING_MANAGER)")
        if ev.station not in station_ids:
            add(f"{p}.station", f"unknown station {ev.station!r}")
        elif (ev.station, ev.evse) not in evses:
            add(f"{p}.evse", f"station {ev.station!r} has no EVSE {ev.evse}")
        arrival, departure = sc.at(ev.arrival), sc.at(ev.departure)
        if departure <= arrival:
            add(f"{p}.departure", f"departs at {ev.departure} before it arrives at {ev.arrival}")
        if not ev.reserve_soc_pct <= ev.min_departure_soc_pct <= 100:
            add(f"{p}.min_departure_soc_pct", "must lie between reserve_soc_pct and 100")
        if ev.soc_arrival_pct < ev.reserve_soc_pct:
            add(f"{p}.soc_arrival_pct", "arrives below its reserve_soc_pct")
    occupancy: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
    for ev in sc.evs:
        if ev.id in ev_ids:
            occupancy.setdefault((ev.station, ev.evse), []).append(
                (sc.at(ev.arrival), sc.at(ev.departure), ev.id)
            )
    for (station, evse), stays in occupancy.items():
        stays.sort()
        for (_, end_a, ev_a), (start_b, _, ev_b) in pairwise(stays):
            if start_b < end_a:
                add("evs", f"{ev_a} and {ev_b} overlap on {station} EVSE {evse}")
    for i, b in enumerate(sc.bookings):
        if b.ev not in ev_ids:
            add(f"bookings[{i}].ev", f"unknown EV {b.ev!r}")
        if sc.at(b.back) <= sc.at(b.depart):
            add(f"bookings[{i}].back", f"returns at {b.back} before it departs at {b.depart}")
    for i, c in enumerate(sc.contracts):
        if roles.get(c.fsp) not in _FSP_ROLES:
            add(f"contracts[{i}].fsp", f"{c.fsp!r} is not an FSP")
        if c.fleet_operator is not None and roles.get(c.fleet_operator) != "FLEET_OPERATOR":
            add(f"contracts[{i}].fleet_operator", f"{c.fleet_operator!r} is not a fleet operator")
        if c.ev_user_incentive_ppm + c.fleet_share_ppm + c.platform_fee_ppm > 1_000_000:
            add(f"contracts[{i}]", "shares and fees add up to more than 100 %")
    for i, f in enumerate(sc.faults):
        if f.station not in station_ids:
            add(f"faults[{i}].station", f"unknown station {f.station!r}")
    if sc.market.x_of_y_x > sc.market.x_of_y_y:
        add("market.x_of_y_x", f"must be <= x_of_y_y ({sc.market.x_of_y_x} > {sc.market.x_of_y_y})")
    scales = sc.history.day_scale_ppm if sc.history is not None else []
    if sc.history is not None and scales and len(scales) != sc.history.days:
        add("history.day_scale_ppm", f"lists {len(scales)} days, history.days is {sc.history.days}")
    if sc.period.isp_s % sc.period.meter_interval_s:
        add("period.meter_interval_s", "must divide period.isp_s")
    for i, s in enumerate(sc.sessions):
        gate, start, end = sc.at(s.gate_closure), sc.at(s.delivery_start), sc.at(s.delivery_end)
        if not gate <= start < end:
            add(session_path(sc, i), "needs gate_closure <= delivery_start < delivery_end")
        if (end - start) % sc.period.isp_s:
            add(session_path(sc, i), "delivery window is not a whole number of ISPs")
    return problems


MoreChecks = Callable[[Scenario], list[ScenarioProblem]]


def parse_scenario(
    data: Any, source: str = "<scenario>", more_checks: MoreChecks | None = None
) -> Scenario:
    """Validate raw scenario data; raise ``ScenarioError`` listing every problem by path.

    ``more_checks`` (e.g. the replay's grid pass) runs on any scenario whose entries are valid
    one by one, so its problems are reported together with the cross-entry ones.
    """
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [
            ScenarioProblem(path=_path(tuple(err["loc"])), reason=err["msg"])
            for err in exc.errors()
        ]
        raise ScenarioError(source, problems) from None
    problems = _intraday_problems(scenario)
    if not problems and scenario.intraday is not None:  # explicit sessions, then the schedule's
        sessions = [*scenario.sessions, *expand_intraday(scenario)]
        scenario = scenario.model_copy(update={"sessions": sessions})
    problems += _cross_checks(scenario)
    if more_checks is not None:
        problems += more_checks(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


# libyaml's safe loader where PyYAML was built with it: 0.3 s against 2.0 s for the stress
# scenario's 14 000 lines, and every role of ``flexmarket live`` loads the scenario.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_scenario(path: str | Path, more_checks: MoreChecks | None = None) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), [ScenarioProblem(path="<file>", reason=str(exc))]) from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # safe: no arbitrary objects
    except yaml.YAMLError as exc:
        raise ScenarioError(str(p), [ScenarioProblem(path="<yaml>", reason=str(exc))]) from None
    return parse_scenario(data, source=str(p), more_checks=more_checks)
