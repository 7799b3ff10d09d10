"""Check 7: every lifecycle event happened in its time window and in order."""

from __future__ import annotations

from typing import Any

from adapters.chain.types import SessionState
from market.audit.chain_view import (
    AuditedSession,
    ChainView,
)
from market.audit.findings import CheckResult


def check_lifecycle(cs: AuditedSession, view: ChainView) -> CheckResult:
    res = CheckResult("lifecycle")
    info = cs.chain
    gate = info.gate_closure

    def each(name: str, code: str, ok: Any, what: str) -> None:
        for e in cs.named(name):
            t = view.ts(e)
            if not ok(t, e):
                res.add(code, f"{name} in block {e.block_number} at {t}: {what}", e.tx_hash)

    each(
        "RequestPosted",
        "lifecycle.request_after_gate_closure",
        lambda t, e: t < gate,
        f"gate closure {gate}",
    )
    each(
        "OffersCommitted",
        "lifecycle.offer_after_gate_closure",
        lambda t, e: t < gate,
        f"gate closure {gate}",
    )
    each(
        "SessionClosed",
        "lifecycle.closed_before_gate_closure",
        lambda t, e: t >= gate,
        f"gate closure {gate}",
    )
    each(
        "ClearingPosted",
        "lifecycle.cleared_before_gate_closure",
        lambda t, e: t >= gate,
        f"gate closure {gate}",
    )
    each(
        "DeliveryAttested",
        "lifecycle.attested_before_delivery_end",
        lambda t, e: t >= info.delivery_end,
        f"delivery ends {info.delivery_end}",
    )
    attested = cs.named("DeliveryAttested")
    resolved = cs.named("DisputeResolved")
    refunded = cs.named("SessionRefundedStuck")
    for e in refunded:
        if view.ts(e) < int(e.args["deadline"]):
            res.add(
                "lifecycle.refunded_before_deadline",
                f"refunded at {view.ts(e)}, deadline {int(e.args['deadline'])}",
                e.tx_hash,
            )
    if cs.stuck_deadline and view.now >= cs.stuck_deadline:
        res.add(
            "lifecycle.stuck",
            f"state {info.state.name} since its deadline {cs.stuck_deadline} (now {view.now}); "
            "anyone can call refundStuck",
        )
    for e in cs.named("SessionFinalized"):
        t = view.ts(e)
        if resolved or refunded:
            continue  # the arbiter's resolve and refundStuck finalize at once
        if not attested:
            res.add("lifecycle.missing_event", "finalized without DeliveryAttested", e.tx_hash)
            continue
        deadline = view.ts(attested[-1]) + info.challenge_window
        if t < deadline:
            res.add(
                "lifecycle.finalized_in_window",
                f"finalized at {t}, challenge window ends {deadline}",
                e.tx_hash,
            )
    needed = {
        SessionState.CLEARED: "ClearingPosted",
        SessionState.VERIFIED: "DeliveryAttested",
        SessionState.FINAL: "SessionFinalized",
    }
    for state, name in needed.items():
        if info.state >= state and info.state != SessionState.DISPUTED and not cs.named(name):
            if state == SessionState.VERIFIED and resolved:
                continue
            if refunded and state < SessionState.FINAL:
                continue  # refundStuck skipped the steps that never came
            res.add("lifecycle.missing_event", f"state {info.state.name} but no {name} event")
    return res
