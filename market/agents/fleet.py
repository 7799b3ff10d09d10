"""EV portfolio model of an FSP (EMSP / fleet operator): EVs, user preferences, fleet
bookings, the uncontrolled-charging baseline and the pre-bid feasibility check.

Everything here is pure. An EV's situation over a session horizon is turned into an
``EvFrame`` (per-ISP power bounds, SoC bounds and SoC requirements) that both the baseline
and the LPs in :mod:`market.agents.flex_lp` read, so they agree on what is feasible.

Model: a lossless battery (SoC in Wh moves by power x ISP hours); power is constant per ISP;
an EV counts as plugged in an ISP only if it is plugged for the whole ISP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.ocpp.charging_needs import EvChargingNeeds

SECONDS_PER_HOUR = 3600


class FleetError(ValueError):
    """An EV, preference or booking that is malformed (not merely infeasible)."""


@dataclass(frozen=True)
class Horizon:
    """The ISPs of a market session: ``n_isps`` periods of ``isp_s`` seconds from ``start_unix``."""

    start_unix: int
    n_isps: int
    isp_s: int = 900

    def __post_init__(self) -> None:
        if self.n_isps <= 0:
            raise FleetError(f"n_isps: must be > 0, got {self.n_isps}")
        if self.isp_s <= 0:
            raise FleetError(f"isp_s: must be > 0, got {self.isp_s}")

    @property
    def end_unix(self) -> int:
        return self.start_unix + self.n_isps * self.isp_s

    @property
    def isp_h(self) -> float:
        return self.isp_s / SECONDS_PER_HOUR

    def isp_start(self, k: int) -> int:
        return self.start_unix + k * self.isp_s


@dataclass(frozen=True)
class UserPreferences:
    """What the EV user set in the EMSP app (D1.4 UC4.3 table 28)."""

    departure_unix: int
    min_departure_soc_wh: int
    min_price_per_mwh: int = 0  # the least the user accepts per MWh shifted; also their rate
    opt_in: bool = True  # takes part in DSO flexibility campaigns


@dataclass(frozen=True)
class Booking:
    """A fleet booking (UC5): the EV is away from ``start_unix`` to ``end_unix`` and must hold
    ``soc_wh`` when the trip starts; it comes back with ``return_soc_wh``."""

    booking_id: str
    start_unix: int
    end_unix: int
    soc_wh: int
    return_soc_wh: int

    def __post_init__(self) -> None:
        if self.end_unix <= self.start_unix:
            raise FleetError(f"booking {self.booking_id}: end_unix must be after start_unix")


@dataclass(frozen=True)
class EV:
    """An EV on a charger (station / EVSE) behind a congestion point.

    ``soc_wh`` is the SoC at ``max(arrival_unix, horizon start)``. ``max_discharge_w`` = 0
    means no V2G. ``target_soc_wh`` is where uncontrolled charging stops (default: full).
    """

    ev_id: str
    station_id: str
    evse_id: int
    congestion_point: str
    capacity_wh: int
    soc_wh: int
    arrival_unix: int
    max_charge_w: int
    max_discharge_w: int
    preferences: UserPreferences
    min_soc_wh: int = 0
    target_soc_wh: int | None = None
    bus: int | None = None
    bookings: tuple[Booking, ...] = ()

    def __post_init__(self) -> None:
        for name in ("capacity_wh", "soc_wh", "max_charge_w", "max_discharge_w", "min_soc_wh"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise FleetError(f"EV {self.ev_id}: {name} must be an int >= 0, got {value!r}")
        if self.capacity_wh == 0:
            raise FleetError(f"EV {self.ev_id}: capacity_wh must be > 0")
        if self.soc_wh > self.capacity_wh:
            raise FleetError(f"EV {self.ev_id}: soc_wh {self.soc_wh} > capacity {self.capacity_wh}")

    @property
    def evse(self) -> tuple[str, int]:
        return (self.station_id, self.evse_id)


@dataclass(frozen=True)
class FleetPolicy:
    """The fleet operator's explicit trade-off between bookings and V2G (UC5).

    ``booking_buffer_wh`` is extra SoC held above every booking's SoC; ``v2g_lockout_s``
    forbids discharging within that many seconds before a booking starts; ``allow_v2g``
    switches discharging off for the whole fleet.
    """

    booking_buffer_wh: int = 0
    v2g_lockout_s: int = 0
    allow_v2g: bool = True


@dataclass(frozen=True)
class PreferenceIssue:
    """A user preference or booking that cannot be met; the EV is left out of every offer."""

    ev_id: str
    constraint: str  # e.g. "min_departure_soc_wh", "booking:<id>.soc_wh", "opt_in"
    detail: str


@dataclass(frozen=True)
class SocRequirement:
    """SoC (Wh) the EV must hold at the start of ISP ``index`` (``index`` = n: horizon end)."""

    index: int
    soc_wh: float
    label: str


@dataclass
class EvFrame:
    """An EV over the horizon, as the LPs see it."""

    ev: EV
    p_min: list[float]  # W per ISP (0 when not plugged)
    p_max: list[float]
    plugged: list[bool]
    resets: dict[int, float]  # SoC index -> SoC set by a trip (booking return)
    soc0: float
    s_min: float
    s_max: float
    requirements: list[SocRequirement]
    baseline_w: list[int] = field(default_factory=list)
    baseline_soc: list[float] = field(default_factory=list)  # n+1 values


def build_frame(ev: EV, horizon: Horizon, policy: FleetPolicy) -> EvFrame:
    """Per-ISP bounds and SoC requirements of ``ev`` over ``horizon`` (no baseline yet)."""
    n = horizon.n_isps
    prefs = ev.preferences
    away = [(b.start_unix, b.end_unix) for b in ev.bookings]
    plugged = []
    for k in range(n):
        t0, t1 = horizon.isp_start(k), horizon.isp_start(k + 1)
        inside = ev.arrival_unix <= t0 and t1 <= prefs.departure_unix
        plugged.append(inside and not any(s < t1 and t0 < e for s, e in away))
    v2g = policy.allow_v2g and ev.max_discharge_w > 0 and prefs.opt_in
    p_min, p_max = [], []
    for k in range(n):
        if not plugged[k]:
            p_min.append(0.0)
            p_max.append(0.0)
            continue
        t0, t1 = horizon.isp_start(k), horizon.isp_start(k + 1)
        locked = policy.v2g_lockout_s > 0 and any(
            t0 < b.start_unix and t1 > b.start_unix - policy.v2g_lockout_s for b in ev.bookings
        )
        p_min.append(-float(ev.max_discharge_w) if v2g and not locked else 0.0)
        p_max.append(float(ev.max_charge_w))
    resets: dict[int, float] = {}
    reqs: list[SocRequirement] = []

    def index_at(t: int) -> int:
        """SoC index just before time t: the start of the first ISP not fully before t."""
        return max(0, min(n, (t - horizon.start_unix) // horizon.isp_s))

    def requirement(t: int, soc: float, label: str) -> None:
        if t <= horizon.start_unix:
            return
        if t >= horizon.end_unix:
            # reachable after the horizon at full charge: only the remainder binds at the end
            remaining = soc - ev.max_charge_w * (t - horizon.end_unix) / SECONDS_PER_HOUR
            if remaining > 0:
                reqs.append(SocRequirement(n, min(remaining, ev.capacity_wh), label))
            return
        reqs.append(SocRequirement(index_at(t), soc, label))

    for b in ev.bookings:
        requirement(b.start_unix, b.soc_wh + policy.booking_buffer_wh, f"booking:{b.booking_id}")
        if horizon.start_unix < b.end_unix < horizon.end_unix:
            back = -(-(b.end_unix - horizon.start_unix) // horizon.isp_s)  # first ISP after
            resets[min(back, n)] = float(b.return_soc_wh)
    requirement(prefs.departure_unix, prefs.min_departure_soc_wh, "min_departure_soc_wh")
    return EvFrame(
        ev=ev,
        p_min=p_min,
        p_max=p_max,
        plugged=plugged,
        resets=resets,
        soc0=float(ev.soc_wh),
        s_min=float(ev.min_soc_wh),
        s_max=float(ev.capacity_wh),
        requirements=sorted(reqs, key=lambda r: r.index),
    )


def baseline(frame: EvFrame, horizon: Horizon) -> tuple[list[int], list[float]]:
    """Uncontrolled charging: full power while plugged until the target SoC (the user's
    target, raised to any departure/booking requirement), in whole watts."""
    ev = frame.ev
    target = float(ev.target_soc_wh if ev.target_soc_wh is not None else ev.capacity_wh)
    target = max([target] + [r.soc_wh for r in frame.requirements])
    target = min(target, float(ev.capacity_wh))
    h = horizon.isp_h
    soc = frame.soc0
    powers: list[int] = []
    socs = [soc]
    for k in range(horizon.n_isps):
        p = 0
        if frame.plugged[k] and soc < target:
            p = min(ev.max_charge_w, math.floor((target - soc) / h))
        powers.append(p)
        soc = soc + p * h
        if k + 1 in frame.resets:
            soc = frame.resets[k + 1]
        socs.append(soc)
    return powers, socs


def check_preferences(frame: EvFrame, horizon: Horizon) -> list[PreferenceIssue]:
    """Named reasons the EV cannot honour its preferences even when charged flat out."""
    ev = frame.ev
    issues: list[PreferenceIssue] = []
    if not ev.preferences.opt_in:
        issues.append(PreferenceIssue(ev.ev_id, "opt_in", "user has not opted in to DSO campaigns"))
    if ev.preferences.departure_unix <= ev.arrival_unix:
        issues.append(PreferenceIssue(ev.ev_id, "departure_unix", "departure is not after arrival"))
    if ev.preferences.min_departure_soc_wh > ev.capacity_wh:
        issues.append(
            PreferenceIssue(
                ev.ev_id,
                "min_departure_soc_wh",
                f"{ev.preferences.min_departure_soc_wh} Wh exceeds capacity {ev.capacity_wh} Wh",
            )
        )
    for b in ev.bookings:
        if b.soc_wh > ev.capacity_wh:
            issues.append(
                PreferenceIssue(
                    ev.ev_id, f"booking:{b.booking_id}.soc_wh", f"{b.soc_wh} Wh exceeds capacity"
                )
            )
    # flat-out charging from the start: the best any schedule can do at each requirement
    h = horizon.isp_h
    soc = frame.soc0
    best = [soc]
    for k in range(horizon.n_isps):
        soc = min(frame.s_max, soc + frame.p_max[k] * h)
        if k + 1 in frame.resets:
            soc = frame.resets[k + 1]
        best.append(soc)
    for req in frame.requirements:
        if best[req.index] + 1e-6 < req.soc_wh:
            name = req.label if req.label == "min_departure_soc_wh" else f"{req.label}.soc_wh"
            issues.append(
                PreferenceIssue(
                    ev.ev_id,
                    name,
                    f"unreachable even at full charge: {req.soc_wh:.0f} Wh needed, "
                    f"at most {best[req.index]:.0f} Wh by ISP {req.index}",
                )
            )
    return issues


@dataclass
class Portfolio:
    """The EVs of an FSP over one session horizon, split into flexible and fixed ones."""

    horizon: Horizon
    policy: FleetPolicy
    frames: dict[str, EvFrame]
    issues: list[PreferenceIssue]

    @property
    def flexible_ids(self) -> list[str]:
        blocked = {i.ev_id for i in self.issues}
        return [ev_id for ev_id in self.frames if ev_id not in blocked]

    def at(self, congestion_point: str, *, flexible_only: bool = False) -> list[EvFrame]:
        ids = set(self.flexible_ids) if flexible_only else set(self.frames)
        return [
            f
            for ev_id, f in self.frames.items()
            if f.ev.congestion_point == congestion_point and ev_id in ids
        ]

    @property
    def congestion_points(self) -> list[str]:
        return sorted({f.ev.congestion_point for f in self.frames.values()})

    def baseline_w(self, congestion_point: str) -> list[int]:
        """Summed baseline (W per ISP) of every EV at the point, flexible or not."""
        total = [0] * self.horizon.n_isps
        for f in self.at(congestion_point):
            for k, p in enumerate(f.baseline_w):
                total[k] += p
        return total


def build_portfolio(evs: list[EV], horizon: Horizon, policy: FleetPolicy) -> Portfolio:
    """Frames, baselines and the pre-bid preference check for every EV."""
    seen: set[str] = set()
    frames: dict[str, EvFrame] = {}
    issues: list[PreferenceIssue] = []
    for ev in evs:
        if ev.ev_id in seen:
            raise FleetError(f"ev_id: {ev.ev_id!r} appears twice in the portfolio")
        seen.add(ev.ev_id)
        frame = build_frame(ev, horizon, policy)
        frame.baseline_w, frame.baseline_soc = baseline(frame, horizon)
        issues.extend(check_preferences(frame, horizon))
        frames[ev.ev_id] = frame
    return Portfolio(horizon=horizon, policy=policy, frames=frames, issues=issues)


def ev_with_charging_needs(ev: EV, needs: EvChargingNeeds) -> EV:
    """The EV as its own charging needs (NotifyEVChargingNeeds, via the CSMS) describe it.

    Why: the car knows its departure, energy need and power limits better than the app's
    defaults. What the EV stated replaces or tightens the model's values, never loosens them:
    departure from the needs; the departure SoC at least ``soc_wh`` + the energy asked for
    (and never below the user's own minimum), within capacity; charge and discharge power
    capped by the EV's limits; no discharge unless a bidirectional mode was requested.
    Absent fields keep the model's values.
    """
    if (needs.station_id, needs.evse_id) != ev.evse:
        raise FleetError(
            f"EV {ev.ev_id}: charging needs of {needs.station_id}/{needs.evse_id}, "
            f"but the EV is on {ev.station_id}/{ev.evse_id}"
        )
    preferences = ev.preferences
    if needs.departure_unix is not None:
        preferences = replace(preferences, departure_unix=needs.departure_unix)
    if needs.energy_amount_wh is not None:
        asked_soc_wh = min(ev.capacity_wh, ev.soc_wh + needs.energy_amount_wh)
        preferences = replace(
            preferences, min_departure_soc_wh=max(preferences.min_departure_soc_wh, asked_soc_wh)
        )
    max_charge_w = ev.max_charge_w
    if needs.max_charge_power_w is not None:
        max_charge_w = min(max_charge_w, needs.max_charge_power_w)
    max_discharge_w = ev.max_discharge_w if needs.bidirectional else 0
    if needs.max_discharge_power_w is not None:
        max_discharge_w = min(max_discharge_w, needs.max_discharge_power_w)
    target_soc_wh = ev.target_soc_wh
    if needs.target_soc_pct is not None:
        target_soc_wh = ev.capacity_wh * needs.target_soc_pct // 100
    return replace(
        ev,
        preferences=preferences,
        max_charge_w=max_charge_w,
        max_discharge_w=max_discharge_w,
        target_soc_wh=target_soc_wh,
    )
