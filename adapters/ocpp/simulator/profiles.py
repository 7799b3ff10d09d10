"""Charging profiles as a simulated station understands them, for all three OCPP versions.

Profiles arrive as raw camelCase payloads; they are turned into absolute-time periods so the
physics can split its integration exactly at period boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.ocpp.simulator.ev import Mode

VOLTS_PER_PHASE = 230
_PURPOSE_RANK = {"TxProfile": 2, "TxDefaultProfile": 1}


class ProfileError(ValueError):
    """A charging profile the station cannot interpret."""


def parse_time(value: str) -> int:
    """RFC 3339 timestamp → Unix seconds."""
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def format_time(unix: float) -> str:
    """Unix seconds → RFC 3339 with ``Z`` (whole seconds)."""
    return datetime.fromtimestamp(int(unix), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Period:
    """One period in absolute time; ``end_unix`` None means open-ended."""

    start_unix: int
    end_unix: int | None
    mode: Mode
    limit_w: int | None
    setpoint_w: int | None = None
    discharge_limit_w: int | None = None

    def covers(self, t: int) -> bool:
        return self.start_unix <= t and (self.end_unix is None or t < self.end_unix)

    def request(self) -> tuple[Mode, int]:
        """The (mode, W) an EV is asked to follow during this period."""
        if self.mode == "setpoint":
            value = self.setpoint_w or 0
            if self.limit_w is not None:
                value = min(value, self.limit_w)
            if self.discharge_limit_w is not None:
                value = max(value, self.discharge_limit_w)
            return "setpoint", value
        if self.limit_w is None:  # a period without a limit leaves the EV unmanaged
            return "default", 0
        return "limit", self.limit_w


@dataclass
class Profile:
    profile_id: int
    evse_id: int
    purpose: str
    stack_level: int
    periods: list[Period]
    set_at: int

    @property
    def end_unix(self) -> int | None:
        return self.periods[-1].end_unix if self.periods else None


def _watts(value: float, unit: str, phases: int | None) -> int:
    if unit == "W":
        return round(value)
    return round(value * VOLTS_PER_PHASE * (phases or 3))


def parse_set_charging_profile(protocol: str, payload: dict[str, Any], now: int) -> Profile:
    """Turn a SetChargingProfile request payload into a :class:`Profile`."""
    try:
        if protocol == "ocpp1.6":
            prof = payload["csChargingProfiles"]
            evse_id = int(payload["connectorId"])
            profile_id = int(prof["chargingProfileId"])
            schedule = prof["chargingSchedule"]
        else:
            prof = payload["chargingProfile"]
            evse_id = int(payload["evseId"])
            profile_id = int(prof["id"])
            schedule = prof["chargingSchedule"][0]
        kind = prof["chargingProfileKind"]
        if kind == "Absolute" and "startSchedule" in schedule:
            start = parse_time(schedule["startSchedule"])
        elif kind in ("Absolute", "Relative"):
            start = now
        else:
            raise ProfileError(f"chargingProfileKind: {kind} not supported by the simulator")
        unit = schedule["chargingRateUnit"]
        duration = schedule.get("duration")
        end = start + int(duration) if duration is not None else None
        raw = sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"])
        periods: list[Period] = []
        for i, p in enumerate(raw):
            p_start = start + int(p["startPeriod"])
            p_end = start + int(raw[i + 1]["startPeriod"]) if i + 1 < len(raw) else end
            phases = p.get("numberPhases")
            limit = _watts(p["limit"], unit, phases) if "limit" in p else None
            op_mode = p.get("operationMode", "ChargingOnly")
            if op_mode == "CentralSetpoint":
                periods.append(
                    Period(
                        p_start,
                        p_end,
                        "setpoint",
                        limit,
                        _watts(p.get("setpoint", 0), unit, phases),
                        _watts(p["dischargeLimit"], unit, phases)
                        if "dischargeLimit" in p
                        else None,
                    )
                )
            elif op_mode == "Idle":
                periods.append(Period(p_start, p_end, "setpoint", 0, 0, 0))
            elif op_mode == "ChargingOnly":
                periods.append(Period(p_start, p_end, "limit", limit))
            else:
                raise ProfileError(f"operationMode: {op_mode} not supported by the simulator")
        return Profile(
            profile_id=profile_id,
            evse_id=evse_id,
            purpose=prof["chargingProfilePurpose"],
            stack_level=int(prof["stackLevel"]),
            periods=periods,
            set_at=now,
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"SetChargingProfile: cannot interpret profile ({exc!r})") from exc


def active_period(profiles: list[Profile], t: int) -> Period | None:
    """The period that governs time ``t``: TxProfile over TxDefault, then stack, then newest."""
    best: tuple[tuple[int, int, int], Period] | None = None
    for prof in profiles:
        for period in prof.periods:
            if period.covers(t):
                rank = (_PURPOSE_RANK.get(prof.purpose, 0), prof.stack_level, prof.set_at)
                if best is None or rank > best[0]:
                    best = (rank, period)
    return best[1] if best else None


def boundaries(profiles: list[Profile], t0: int, t1: int) -> list[int]:
    """Period starts/ends strictly inside (t0, t1), sorted."""
    points: set[int] = set()
    for prof in profiles:
        for period in prof.periods:
            for x in (period.start_unix, period.end_unix):
                if x is not None and t0 < x < t1:
                    points.add(x)
    return sorted(points)


def composite_periods(
    protocol: str, profiles: list[Profile], start: int, duration: int, max_power_w: int
) -> list[dict[str, Any]]:
    """Composite schedule periods (camelCase, W) from ``start`` for ``duration`` seconds."""
    end = start + duration
    cuts = [start, *boundaries(profiles, start, end)]
    out: list[dict[str, Any]] = []
    for t in cuts:
        period = active_period(profiles, t)
        if period is None:
            entry: dict[str, Any] = {"startPeriod": t - start, "limit": float(max_power_w)}
        elif period.mode == "setpoint" and protocol == "ocpp2.1":
            entry = {
                "startPeriod": t - start,
                "operationMode": "CentralSetpoint",
                "setpoint": float(period.setpoint_w or 0),
                "limit": float(period.limit_w if period.limit_w is not None else max_power_w),
            }
            if period.discharge_limit_w is not None:
                entry["dischargeLimit"] = float(period.discharge_limit_w)
        else:
            limit = period.limit_w if period.limit_w is not None else max_power_w
            entry = {"startPeriod": t - start, "limit": float(limit)}
        if out and {k: v for k, v in out[-1].items() if k != "startPeriod"} == {
            k: v for k, v in entry.items() if k != "startPeriod"
        }:
            continue
        out.append(entry)
    return out
