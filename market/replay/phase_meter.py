"""Wall and CPU seconds per replay phase, summed over the sessions, and the peak memory.

Why: a slow replay day is only made faster by working on the phase that costs most, so
``timing.json`` says where the time goes instead of a single total. CPU beside wall tells a
phase that computes (LPs, signature recovery, JSON) from one that waits (the chain, sockets):
``cpu_s`` is this process's CPU over all its threads, so the in-process market API and the
lifecycle worker count, while anvil, a separate process, does not. Nothing here reaches
``report.json``, which stays byte-identical across runs.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# The order phases are listed in; a phase never entered is left out of timing.json.
PHASE_ORDER = (
    "setup",
    "open",
    "gate_closure",
    "dispatch",
    "delivery",
    "verify",
    "final",
    "report",
    "audit",
)
LARGEST_N = 3  # how many phases ``largest_phases`` names


@dataclass
class PhaseTotal:
    """Seconds one phase took, summed over every time it ran."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    runs: int = 0


Mark = tuple[float, float]  # (wall clock, process CPU) at some instant


class PhaseMeter:
    """Adds up wall and CPU seconds per named phase (see :data:`PHASE_ORDER`).

    ``wall`` and ``cpu`` are the clocks (``time.perf_counter``/``time.process_time``); tests
    pass their own to check the arithmetic without sleeping."""

    def __init__(
        self,
        wall: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self._wall = wall
        self._cpu = cpu
        self.totals: dict[str, PhaseTotal] = {}

    def mark(self) -> Mark:
        """Both clocks now, to pass to :meth:`add` when the phase ends."""
        return (self._wall(), self._cpu())

    def add(self, phase: str, since: Mark) -> Mark:
        """Charge the time from ``since`` to now to ``phase``; returns now (the next start)."""
        if phase not in PHASE_ORDER:
            raise ValueError(f"phase: {phase!r} is not one of {', '.join(PHASE_ORDER)}")
        now = self.mark()
        total = self.totals.setdefault(phase, PhaseTotal())
        total.wall_s += now[0] - since[0]
        total.cpu_s += now[1] - since[1]
        total.runs += 1
        return now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charge the ``with`` block to ``name`` (also when it raises)."""
        since = self.mark()
        try:
            yield
        finally:
            self.add(name, since)

    def to_json(self) -> dict[str, Any]:
        """``phases`` (wall and CPU s per phase, in phase order), ``largest_phases`` (the
        :data:`LARGEST_N` largest by wall time, largest first) and ``peak_rss_mb``."""
        phases = {
            name: {
                "wall_s": round(self.totals[name].wall_s, 3),
                "cpu_s": round(self.totals[name].cpu_s, 3),
                "runs": self.totals[name].runs,
            }
            for name in PHASE_ORDER
            if name in self.totals
        }
        wall_total = sum(p["wall_s"] for p in phases.values()) or 1.0
        ranked = sorted(phases, key=lambda n: (-phases[n]["wall_s"], PHASE_ORDER.index(n)))
        largest = [
            {
                "phase": name,
                "wall_s": phases[name]["wall_s"],
                "cpu_s": phases[name]["cpu_s"],
                "share_of_wall": round(phases[name]["wall_s"] / wall_total, 3),
            }
            for name in ranked[:LARGEST_N]
        ]
        own, child = (kib // 1024 for kib in _peak_rss_kib())
        return {
            "phases": phases,
            "largest_phases": largest,
            "peak_rss_mb": own + child,
            "peak_rss_self_mb": own,
            "peak_rss_children_mb": child,
        }


def _peak_rss_kib() -> tuple[int, int]:
    """Peak resident KiB (Linux ``getrusage``) of this process, and of its largest finished
    child (e.g. the contracts' compiler); a child still running is not in it."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def peak_rss_mb() -> int:
    """Peak resident memory of this process plus that of its largest finished child (MB).

    A child still running (the replay's anvil) is not in it; :func:`process_peak_rss_mb`
    reads that one while it runs."""
    return sum(kib // 1024 for kib in _peak_rss_kib())


def process_peak_rss_mb(pid: int) -> int | None:
    """Peak resident memory (``VmHWM``) of a running process in MB, None when unreadable
    (not Linux, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
