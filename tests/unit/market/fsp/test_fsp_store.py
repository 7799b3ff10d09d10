"""The gateway's own store: the readings outbox is exactly-once across a "crash" (a second
store object on the same file), offers resume from their recorded step, tokens are hashed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.ocpp.sink import MeterReading
from market.fsp.outbox import OutboxSink
from market.fsp.store import GatewayStore, token_hash


def _reading(ts: int, import_wh: int, *, signed: bool = True) -> MeterReading:
    return MeterReading(
        station_id="ST-1",
        evse_id=1,
        timestamp=ts,
        import_wh=import_wh,
        export_wh=0,
        power_w=7_000,
        soc_pct=40,
        protocol="ocpp2.1",
        received_at=ts,
        signed_data="payload" if signed else None,
        signature="0xab" if signed else None,
        public_key="0x04cd" if signed else None,
    )


def test_outbox_keeps_every_reading_once_and_resumes_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    store = GatewayStore(url, now=lambda: 1_000)
    logged: list[dict[str, object]] = []
    told: list[int] = []
    sink = OutboxSink(store, logged.append, on_stored=lambda: told.append(sink.stored))

    async def receive() -> None:
        for k in range(4):
            await sink.store(_reading(60 * k, 100 * k))
        await sink.store(_reading(60, 100))  # the station re-sends after a lost answer
        await sink.store(_reading(300, 500, signed=False))

    asyncio.run(receive())
    assert sink.stored == 5
    assert told == [1, 2, 3, 4, 5], "told of each new reading once, not of the re-sent one"
    first = store.pending()
    assert [r.reading.timestamp for r in first] == [0, 60, 120, 180]
    store.mark_reading(first[0].id, "sent")
    store.mark_reading(first[1].id, "sent")
    # "crash": a new process opens the same database; nothing sent is pending again and
    # nothing pending was lost
    again = GatewayStore(url, now=lambda: 2_000)
    assert [r.reading.timestamp for r in again.pending()] == [120, 180]
    assert again.pending()[0].reading == _reading(120, 200)
    assert again.outbox_counts() == {"sent": 2, "pending": 2, "unsigned": 1}
    assert again.last_readings() == {"ST-1": 300}
    assert [r.timestamp for r in again.readings("ST-1", 1)] == [0, 60, 120, 180, 300]
    last = again.last_reading("ST-1", 1)
    assert last is not None and last.timestamp == 300 and again.last_reading("ST-9", 1) is None


def test_offers_orders_and_dispatch_are_recorded_by_step(tmp_path: Path) -> None:
    store = GatewayStore(f"sqlite:///{tmp_path}/gw.db", now=lambda: 5)
    assert store.offer_record("s1") is None
    store.set_offers("s1", "planned", [{"offer_id": "o1"}])
    store.set_offers("s1", "committed", [{"offer_id": "o1"}], "0x" + "11" * 32)
    rec = store.offer_record("s1")
    assert rec == {
        "status": "committed",
        "root": "0x" + "11" * 32,
        "n_offers": 1,
        "offers": [{"offer_id": "o1"}],
    }
    assert store.add_order("a", "s1", {"x": 1}, verified=True)
    assert not store.add_order("a", "s1", {"x": 2}, verified=False)  # kept once, first wins
    assert store.add_order("b", "s1", {"x": 3}, verified=False, reason="bad proof")
    store.mark_acked(["a"])
    assert [(o["order_id"], o["verified"], o["acked"]) for o in store.orders_of("s1")] == [
        ("a", True, True),
        ("b", False, False),
    ]
    store.record_dispatch("s1", "a", "ST-1", "SENT", "EVSE 1:Pending")
    store.record_dispatch("s1", "a", "ST-1", "ACCEPTED", "EVSE 1:Accepted")
    assert store.dispatched("s1") == {("a", "ST-1"): "ACCEPTED"}
    assert store.see_session("s1", "OPEN") and not store.see_session("s1", "OPEN")
    assert store.see_session("s1", "CLEARED")
    assert store.session_states() == {"s1": "CLEARED"}


def test_tokens_are_stored_as_hashes_and_replaced(tmp_path: Path) -> None:
    store = GatewayStore(f"sqlite:///{tmp_path}/gw.db")
    first = store.issue_token("alice")
    assert store.user_of_token(first) == "alice"
    second = store.issue_token("alice")
    assert store.user_of_token(first) is None and store.user_of_token(second) == "alice"
    raw = (tmp_path / "gw.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("gw.db-*")
    )
    assert second.encode() not in raw and token_hash(second).encode() in raw
