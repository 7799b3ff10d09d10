"""A busy loop on every core, for showing that the clearing's orders do not depend on load.

Used by ``flexmarket bench clearing --seeds`` (``same_orders_under_load``) and the determinism
test: the clearing runs once quietly and once beside these processes, and the bytes must match.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["busy_cores"]


def _spin(seconds: float) -> None:
    """Keep one core busy until ``seconds`` have passed (or the process is terminated)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@contextmanager
def busy_cores(processes: int | None = None, max_s: float = 3_600.0) -> Iterator[int]:
    """Spin ``processes`` (default: one per core) busy loops while the block runs; yields the
    number started. Spawned, not forked, so no solver state is copied into them."""
    ctx = multiprocessing.get_context("spawn")
    count = processes or os.cpu_count() or 2
    procs = [ctx.Process(target=_spin, args=(max_s,), daemon=True) for _ in range(count)]
    for p in procs:
        p.start()
    try:
        yield count
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
