"""Library calls behind ``flexmarket arbiter resolve`` and ``flexmarket clearing settle``.

Used by market/commands/arbiter.py and market/commands/clearing_house.py.
"""

from __future__ import annotations

from typing import Any

from market.errors import InvalidMessage
from market.settings import Settings


def _parts(settings: Settings) -> tuple[Any, Any]:
    from market.ledger import ledger_from_settings
    from market.runtime import build_runtime

    ledger = ledger_from_settings(settings)
    return build_runtime(settings, ledger=ledger), ledger


def resolve_command(settings: Settings, session_id: str) -> dict[str, Any]:
    """Resolve a disputed session with FLEXMARKET_ARBITER_KEY."""
    from market.clearing_house.service import resolve_dispute

    if not settings.arbiter_key:
        raise InvalidMessage("set FLEXMARKET_ARBITER_KEY to an ARBITER key", field="arbiter_key")
    rt, ledger = _parts(settings)
    return resolve_dispute(
        engine=rt.engine,
        ledger=ledger,
        bundles=rt.bundles,
        session_id=session_id,
        arbiter=ledger.client.add_account(settings.arbiter_key),
    )


def settle_command(settings: Settings, session_id: str) -> dict[str, Any]:
    """Net a FINAL session with FLEXMARKET_CLEARING_HOUSE_KEY."""
    from market.clearing_house.service import settle_session

    if not settings.clearing_house_key:
        raise InvalidMessage(
            "set FLEXMARKET_CLEARING_HOUSE_KEY to a CLEARING_HOUSE key", field="clearing_house_key"
        )
    rt, ledger = _parts(settings)
    house = ledger.client.add_account(settings.clearing_house_key)
    return settle_session(
        engine=rt.engine,
        ledger=ledger,
        bundles=rt.bundles,
        session_id=session_id,
        clearing_house=house,
        fee_recipient=settings.fee_recipient or house,
    )
