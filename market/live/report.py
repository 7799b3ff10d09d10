"""``report.json`` of a live run: per session the payouts, refunds and per-party money in the
replay's shape (``market.replay.outcome.payments_of``), read back from the market's published
delivery bundle, so the two runs of a scenario compare key by key."""

from __future__ import annotations

from typing import Any

from market.client import ApiError, MarketClient
from market.lifecycle.verification import report_of_bundle
from market.replay.chain import ReplayChain
from market.replay.outcome import payments_of
from market.replay.scenario import Scenario


def live_report(
    sc: Scenario, chain: ReplayChain, operator: MarketClient, session_ids: dict[str, str]
) -> dict[str, Any]:
    """Money per session and in total, by participant id (as the replay names them)."""
    addr_to_id = {a.lower(): pid for pid, a in chain.addresses.items()}
    sessions: dict[str, Any] = {}
    total_payouts = 0
    for spec_id, sid in sorted(session_ids.items()):
        requests = operator.requests(sid)
        request_dso = {
            str(r.get("body", r)["request_id"]): addr_to_id.get(
                str(r.get("submitter", "")).lower(), "dso"
            )
            for r in requests
        }
        try:
            delivery = report_of_bundle(operator.bundle(sid, "delivery"))
        except ApiError:
            delivery = None  # no delivery bundle: nothing was verified
        money, _ = payments_of(delivery, addr_to_id, request_dso)
        orders = operator.orders(sid)
        sessions[spec_id] = {
            "session_id": sid,
            "state": operator.session(sid)["state"],
            "requests": len(requests),
            "orders": len(orders),
            **money,
        }
        total_payouts += sum(p["payout_units"] for p in money["payouts"])
    return {
        "scenario": sc.name,
        "seed": sc.seed,
        "day": sc.period.day.isoformat(),
        "mode": "live",
        "market_address": chain.contracts.market.address,
        "participants": {pid: a.lower() for pid, a in sorted(chain.addresses.items())},
        "sessions": sessions,
        "total": {"payouts_units": total_payouts, "sessions": len(sessions)},
    }
