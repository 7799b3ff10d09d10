"""What a lifecycle step needs of the worker that runs it, and the hooks a worker takes.

The steps (``steps.py``) are functions of a :class:`StepContext`; the worker (``worker.py``)
is one. Keeping these types here lets the worker import the steps without the steps
importing the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from adapters.chain.types import SessionState
from adapters.clock import Clock
from clearing.settlement.rules import SettlementRules
from market.bundles import BundleStore
from market.ledger import Ledger
from market.store import models as m

#: (status, detail) of one step: status DONE, BLOCKED, ... as recorded in ``LifecycleStep``.
Outcome = tuple[str, str]

VerificationHook = Callable[[m.MarketSession], None]
ClearingHook = Callable[[m.MarketSession], str]  # after FINAL: netting; returns a short detail


class StepContext(Protocol):
    """The worker as the steps see it: the store, the ledger, the bundles and the hooks."""

    engine: Engine
    ledger: Ledger
    bundles: BundleStore
    clock: Clock
    verification_hook: VerificationHook | None
    clearing_hook: ClearingHook | None
    pricing_rule: str
    meter_grace_s: int
    settlement_rules: SettlementRules | None
    readings_digests_required: bool

    def crash_point(self, name: str) -> None: ...

    def set_state(self, session_id: str, state: str, **fields: Any) -> None: ...

    def chain_state(self, session_id: str) -> SessionState: ...
