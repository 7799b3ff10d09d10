"""Fault injection for simulated stations: what real chargers do to a CSMS on a bad day."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StationFaults:
    """Faults one station injects; times are Unix seconds on the simulation clock.

    * ``drop_at_unix`` / ``drop_for_s``: close the connection, stay offline, reconnect and boot
      again. Meter values taken while offline are queued and sent after reconnecting.
      ``lose_profiles_on_drop`` forgets installed profiles (a reboot), so only a CSMS re-send
      restores them.
    * ``reject_profiles``: answer SetChargingProfile with Rejected.
    * ``ignore_profiles``: answer Accepted (and report the profile in the composite schedule)
      but keep charging as if no profile existed — non-delivery.
    * ``gap_from_unix`` .. ``gap_to_unix``: take no meter samples in this window (meter outage).
    * ``reset_registers_at_unix``: the meter's energy registers restart from 0.
    * ``clock_late_s``: timestamps sent are this many seconds behind true time.
    """

    drop_at_unix: int | None = None
    drop_for_s: int = 0
    lose_profiles_on_drop: bool = True
    reject_profiles: bool = False
    ignore_profiles: bool = False
    gap_from_unix: int | None = None
    gap_to_unix: int | None = None
    reset_registers_at_unix: int | None = None
    clock_late_s: int = 0

    def in_gap(self, t: int) -> bool:
        return (
            self.gap_from_unix is not None
            and self.gap_to_unix is not None
            and self.gap_from_unix <= t < self.gap_to_unix
        )
