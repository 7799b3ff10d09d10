"""The same signed message sent concurrently is stored once; every sender gets the first result."""

from __future__ import annotations

import threading

import pytest
from market_helpers import make_offer, make_worker, open_session, setup_market

pytestmark = pytest.mark.integration


def test_concurrent_replays_store_once(runtime, clients) -> None:
    op, fsp = clients("operator"), clients("fsp_a")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    envelope = fsp.sign("offer", make_offer(s.session_id, fsp.address, expires_at=s.gate_closure))
    before = runtime.core.count_rows()
    results, errors = [], []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait(timeout=10)
        try:
            results.append(runtime.core.submit("offer", dict(envelope)))
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len({str(r.body) for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    after = runtime.core.count_rows()
    assert after["offer"] == before["offer"] + 1
    assert after["message_log"] == before["message_log"] + 1
