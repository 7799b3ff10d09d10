"""`bench api --workers`: the chain count names a step posted twice, or not at all."""

from __future__ import annotations

from typing import Any

from clearing.encoding import uuid_to_bytes32
from market.bench_lifecycle import chain_counts

LOAD, SHORT = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


class FakeChain:
    """Events per (name, session topic) and the operator's transaction count."""

    def __init__(self, events: dict[tuple[str, str], int], sent: int) -> None:
        self.events, self.sent = events, sent

    def get_events(self, name: str, from_block: int, *, topics: list[str]) -> list[Any]:
        return [object()] * self.events.get((name, topics[0]), 0)

    def rpc(self, method: str, params: list[Any]) -> str:
        assert method == "eth_getTransactionCount"
        return hex(self.sent)


def _topic(session_id: str) -> str:
    return "0x" + uuid_to_bytes32(session_id).hex()


def _counts(events: dict[tuple[str, str], int], sent: int) -> dict[str, Any]:
    return chain_counts(
        FakeChain(events, sent),
        deploy_block=0,
        operator="0xop",
        operator_txs_before=10,
        load_session=LOAD,
        short_sessions=[SHORT],
    )


def test_each_step_once_is_clean() -> None:
    once = {("SessionCreated", _topic(LOAD)): 1}
    once |= {(e, _topic(SHORT)): 1 for e in ("SessionCreated", "SessionClosed", "ClearingPosted")}
    out = _counts(once, sent=14)
    assert out["posted_twice"] == out["not_posted"] == []
    assert out["operator_txs_sent"] == out["operator_txs_expected"] == 4


def test_a_double_post_and_a_missing_step_are_named() -> None:
    events = {
        ("SessionCreated", _topic(LOAD)): 1,
        ("SessionCreated", _topic(SHORT)): 1,
        ("SessionClosed", _topic(SHORT)): 2,
    }
    out = _counts(events, sent=15)  # one reverted duplicate still costs a transaction
    assert out["posted_twice"] == [{"session_id": SHORT, "event": "SessionClosed", "count": 2}]
    assert out["not_posted"] == [{"session_id": SHORT, "event": "ClearingPosted"}]
    assert out["operator_txs_sent"] == 5 != out["operator_txs_expected"]
