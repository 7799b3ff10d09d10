"""The FSP gateway's ``GET /status``: what it has seen, offered, received, dispatched,
relayed and withdrawn, from its own store (the orchestrator of ``flexmarket live`` and the
fleet desk read it). Apart from the market loop (market/fsp/gateway.py) so each stays short."""

from __future__ import annotations

from typing import Any

from market.fsp.gateway import FspGateway


def gateway_status(gw: FspGateway) -> dict[str, Any]:
    """The shape ``GET /status`` documents (market/fsp/ev_api.py)."""
    states = gw.store.session_states()
    orders = [o for sid in states for o in gw.store.orders_of(sid)]
    dispatched = {k[0] for sid in states for k in gw.store.dispatched(sid)}
    counts = gw.store.outbox_counts()
    offers = sum(
        1 for sid in states if (gw.store.offer_record(sid) or {}).get("status") == "posted"
    )
    return {
        "sessions": states,
        "offers_submitted": offers,
        "orders": {
            "received": len(orders),
            "verified": sum(o["verified"] for o in orders),
            "rejected": sum(not o["verified"] for o in orders),
            "dispatched": len(dispatched),
            "acked": sum(o["acked"] for o in orders),
        },
        "outbox": {
            k: counts.get(k, 0) for k in ("pending", "sent", "refused", "unsigned", "outside")
        },
        "last_reading": gw.store.last_readings(),
        "stations_connected": sum(1 for s in gw.csms.sessions.values() if s.connected),
        "withdrawn_units": sum(gw.store.withdrawn(sid) or 0 for sid in states),
        # dispatched sessions whose revenue sharing a netting market has not taken yet
        "sharing_pending": sorted(gw.sharing.queue.pending()) if gw.gate.last_known() else [],
        "now": int(gw.now()),
    }
