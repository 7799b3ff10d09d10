"""A BLOCKED netting is retried after a delay that doubles up to a cap, not on every tick;
a netting that goes through (or any other outcome) forgets the delay."""

from __future__ import annotations

import time

from market.lifecycle.worker import Worker


def _worker() -> Worker:
    # the back-off reads no store, chain or bundles: none are needed to see its delays
    return Worker(engine=None, ledger=None, bundles=None, clearing_backoff_s=(5.0, 40.0))  # type: ignore[arg-type]


def test_the_delay_doubles_up_to_the_cap_and_a_success_clears_it() -> None:
    w = _worker()
    delays = []
    for _ in range(6):
        before = time.monotonic()
        w._back_off("s1", "clearing", "BLOCKED")
        delays.append(round(w._blocked["s1"][1] - before))
    assert delays == [5, 10, 20, 40, 40, 40]
    w._back_off("s1", "verify", "BLOCKED")  # other steps are retried every tick as before
    assert w._blocked["s1"][0] == 6
    w._back_off("s1", "clearing", "DONE")
    assert "s1" not in w._blocked
