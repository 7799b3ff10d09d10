"""Which sessions a DSO may open itself: intraday ones, within bounds the operator configured.

Why: intraday sessions (gate closing minutes before delivery) are opened on a rolling
schedule by the DSO that needs them (issue 15 item 7); the operator keeps control by turning
this on (``FLEXMARKET_DSO_SESSIONS=true``) and bounding how short the gate lead, how long the
delivery and how far ahead a DSO-opened session may be. The operator itself is not bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from market.errors import Forbidden, InvalidMessage
from market.store.models import SessionCreate


@dataclass(frozen=True)
class DsoSessionPolicy:
    """The operator's bounds on sessions a DSO opens (``enabled=False``: DSOs may not)."""

    enabled: bool = False
    max_gate_before_delivery_s: int = 3600  # longer leads are day-ahead: the operator's
    min_gate_ahead_s: int = 60  # the gate must stay open at least this long after opening
    max_delivery_s: int = 4 * 3600
    max_start_ahead_s: int = 24 * 3600


def check_dso_session(policy: DsoSessionPolicy, body: SessionCreate, now: int) -> None:
    """Refuse a DSO's session outside the policy, naming the field and the bound."""
    if not policy.enabled:
        raise Forbidden(
            "the operator does not let DSOs open sessions (FLEXMARKET_DSO_SESSIONS is off)",
            field="kind",
        )
    lead_s = body.delivery_start - body.gate_closure
    if lead_s > policy.max_gate_before_delivery_s:
        raise InvalidMessage(
            f"a DSO may open intraday sessions only: the gate closes {lead_s} s before "
            f"delivery, at most {policy.max_gate_before_delivery_s} s allowed",
            field="body.gate_closure",
        )
    if body.gate_closure - now < policy.min_gate_ahead_s:
        raise InvalidMessage(
            f"the gate must stay open at least {policy.min_gate_ahead_s} s after now ({now})",
            field="body.gate_closure",
        )
    length_s = body.delivery_end - body.delivery_start
    if length_s > policy.max_delivery_s:
        raise InvalidMessage(
            f"delivery of {length_s} s is longer than the {policy.max_delivery_s} s allowed",
            field="body.delivery_end",
        )
    if body.delivery_start - now > policy.max_start_ahead_s:
        raise InvalidMessage(
            f"delivery starts more than {policy.max_start_ahead_s} s after now ({now})",
            field="body.delivery_start",
        )
