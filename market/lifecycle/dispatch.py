"""Who dispatches what: each FSP acknowledges its own orders; the market only keeps count.

Why: the market operator does not drive chargers. An FSP follows its orders (``GET /events``),
dispatches them from its own CSMS and acknowledges them with a signed ``dispatch_ack``; the
worker's dispatch step and ``GET /sessions/{id}/dispatch-acks`` report the counts per FSP.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from market.store import models as m


def dispatch_report(engine: Engine, session_id: str) -> list[m.DispatchAckPublic]:
    """Per FSP (sorted by address): its orders, acknowledged and not, in order-id order."""
    with Session(engine) as db:
        orders = db.exec(
            select(m.OrderRow.id, m.OrderRow.fsp)
            .where(m.OrderRow.session_id == session_id)
            .order_by(col(m.OrderRow.id))
        ).all()
        acked = set(
            db.exec(select(m.DispatchAck.order_id).where(m.DispatchAck.session_id == session_id))
        )
    by_fsp: dict[str, tuple[list[str], list[str]]] = {}
    for order_id, fsp in orders:
        yes, no = by_fsp.setdefault(fsp.lower(), ([], []))
        (yes if order_id in acked else no).append(order_id)
    return [
        m.DispatchAckPublic(fsp=fsp, orders=len(yes) + len(no), acknowledged=yes, unacknowledged=no)
        for fsp, (yes, no) in sorted(by_fsp.items())
    ]


def summary(report: list[m.DispatchAckPublic]) -> str:
    """One line for the step detail: ``0xabc… 2/3, 0xdef… 1/1 acknowledged``."""
    if not report:
        return "no orders"
    parts = [f"{r.fsp} {len(r.acknowledged)}/{r.orders}" for r in report]
    return ", ".join(parts) + " acknowledged"
