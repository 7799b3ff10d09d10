"""What was ordered per EVSE and per ISP, and what became of it (the dispatch records).

Kept apart from :mod:`adapters.ocpp.dispatch` so that the follow check
(:mod:`adapters.ocpp.follow`) can read the records without importing the dispatcher.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DispatchStatus(StrEnum):
    PENDING = "Pending"
    ACCEPTED = "Accepted"
    CONFIRMED = "Confirmed"
    REJECTED = "Rejected"
    TIMEOUT = "Timeout"
    NOT_CONNECTED = "NotConnected"
    REFUSED_NO_V2G = "RefusedNoV2G"
    NOT_FOLLOWED = "NotFollowed"
    CLEARED = "Cleared"


@dataclass(frozen=True, slots=True)
class IspSetpoint:
    """Ordered power for one ISP at one EVSE: W, negative = discharge."""

    start_unix: int
    duration_s: int
    power_w: int

    @property
    def end_unix(self) -> int:
        return self.start_unix + self.duration_s


@dataclass
class IspDispatch:
    """Dispatch outcome of one ISP; ``status`` is the latest, ``confirmed`` is sticky."""

    start_unix: int
    duration_s: int
    power_w: int
    status: DispatchStatus = DispatchStatus.PENDING
    reason: str | None = None
    confirmed: bool = False
    samples: int = 0
    samples_following: int = 0


@dataclass
class EvseDispatch:
    station_id: str
    evse_id: int
    profile_id: int
    isps: list[IspDispatch]
    sends: int = 0
    protocol: str | None = None
    answered_after_s: float | None = None
    issued_at: float | None = field(default=None, repr=False)
    cleared: bool = False
    clear_task: asyncio.Task[Any] | None = field(default=None, repr=False)

    @property
    def end_unix(self) -> int:
        return max(i.start_unix + i.duration_s for i in self.isps)

    @property
    def start_unix(self) -> int:
        return min(i.start_unix for i in self.isps)


class DispatchError(ValueError):
    """A schedule that cannot be dispatched as given."""
