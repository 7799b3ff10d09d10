"""One EVSE's state and physics: meter registers in integer joules, the charging profiles
installed, the transaction in progress, and exact integration of the EV's power over time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from adapters.ocpp.simulator.ev import Mode
from adapters.ocpp.simulator.profiles import Profile, active_period, boundaries
from adapters.ocpp.simulator.spec import EvseSpec


@dataclass
class EvseState:
    """Meter registers (integer joules), the profiles installed, the session in progress."""

    spec: EvseSpec
    import_j: int = 0
    export_j: int = 0
    power_w: int = 0
    profiles: list[Profile] = field(default_factory=list)
    ignored_profile_ids: set[int] = field(default_factory=set)
    tx_id: str | int | None = None
    plugged: bool = False
    seq_no: int = 0

    def __post_init__(self) -> None:
        self.import_j = self.import_j or self.spec.initial_import_wh * 3600
        self.export_j = self.export_j or self.spec.initial_export_wh * 3600

    @property
    def import_wh(self) -> int:
        return self.import_j // 3600

    @property
    def export_wh(self) -> int:
        return self.export_j // 3600

    def followed_profiles(self) -> list[Profile]:
        return [p for p in self.profiles if p.profile_id not in self.ignored_profile_ids]

    def profile_request(self, t: int) -> tuple[Mode, int]:
        """What the followed profiles ask of the EV at ``t`` (mode and value)."""
        period = active_period(self.followed_profiles(), t)
        if period is None:
            return "default", 0
        return period.request()

    def integrate(self, t0: int, t1: int) -> None:
        """Advance from t0 to t1 with no plug events in between."""
        cuts = [t0, *boundaries(self.followed_profiles(), t0, t1), t1]
        ev = self.spec.ev
        for a, b in itertools.pairwise(cuts):
            if ev is None or not self.plugged:
                self.power_w = 0
                continue
            mode, value = self.profile_request(a)
            for power, secs in ev.run(mode, value, b - a):
                if power > 0:
                    self.import_j += power * secs
                elif power < 0:
                    self.export_j += -power * secs
                self.power_w = power
