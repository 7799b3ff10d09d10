"""Wires settings, store, chain and clock into the parts the API, worker and CLI share."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from adapters.clock import Clock, SystemClock
from market.api.app import create_app
from market.auth.eip712 import Domain
from market.auth.sign_in_store import SignInStore
from market.auth.siwe import TokenIssuer
from market.bundles import BundleStore
from market.core import MarketCore
from market.core.readings import ReadingRules
from market.core.session_policy import DsoSessionPolicy
from market.errors import InvalidMessage
from market.roles import RoleCache
from market.settings import Settings
from market.store.db import make_engine, upgrade

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from clearing.settlement.rules import SettlementRules
    from market.ledger import Ledger
    from market.lifecycle.readings import DigestSource
    from market.lifecycle.worker import Worker
    from market.store.models import MarketSession


@dataclass
class Runtime:
    """Everything one service process holds."""

    settings: Settings
    engine: Engine
    core: MarketCore
    issuer: TokenIssuer
    bundles: BundleStore
    ledger: Ledger | None = None

    def app(self, worker: Worker | None = None) -> FastAPI:
        if worker is not None and self.ledger is not None:
            attach_settlement(worker, self.settings, ledger=self.ledger)
        app = create_app(
            core=self.core,
            issuer=self.issuer,
            bundles=self.bundles,
            settings=self.settings,
            worker=worker,
        )
        app.state.ledger = self.ledger  # dispute routes read the challenge window on-chain
        return app


def build_runtime(
    settings: Settings,
    *,
    ledger: Ledger | None = None,
    role_lookup: Callable[[str], Iterable[str]] | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
) -> Runtime:
    """Build the shared parts; roles come from ``ledger`` (the chain) unless a lookup is given."""
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    if ledger is not None:
        chain_id, market_address = ledger.chain_id, ledger.market_address
        lookup = role_lookup or ledger.roles_of
    else:
        if settings.chain_id is None or settings.market_address is None:
            raise InvalidMessage(
                "set FLEXMARKET_RPC_URL (or FLEXMARKET_CHAIN_ID and FLEXMARKET_MARKET_ADDRESS)",
                field="settings",
            )
        if role_lookup is None:
            raise InvalidMessage("roles need the chain: no ledger configured", field="settings")
        chain_id, market_address = settings.chain_id, settings.market_address
        lookup = role_lookup
    if clock is None:
        clock = ChainClock(ledger) if settings.clock == "chain" and ledger else SystemClock()
    roles = RoleCache(lookup, ttl_s=settings.role_cache_ttl_s)
    core = MarketCore(
        engine=engine,
        domain=Domain(chain_id, market_address),
        roles=roles,
        clock=clock,
        max_message_ttl_s=settings.max_message_ttl_s,
        request_escrow_check=ledger.check_request_escrow if ledger is not None else None,
        station_check=ledger.check_station_grant if ledger is not None else None,
        reading_rules=ReadingRules.of(
            settlement_rules(settings),
            meter_grace_s=settings.meter_grace_s,
            clock_skew_s=settings.meter_clock_skew_s,
        ),
        dso_sessions=DsoSessionPolicy(
            enabled=settings.dso_sessions,
            max_gate_before_delivery_s=settings.dso_sessions_max_gate_before_delivery_s,
            min_gate_ahead_s=settings.dso_sessions_min_gate_ahead_s,
            max_delivery_s=settings.dso_sessions_max_delivery_s,
            max_start_ahead_s=settings.dso_sessions_max_start_ahead_s,
        ),
    )
    issuer = TokenIssuer(
        settings.token_secret,
        domain=settings.siwe_domain,
        chain_id=chain_id,
        token_ttl_s=settings.session_token_ttl_s,
        store=SignInStore(engine),
    )
    bundles = BundleStore(engine, settings.bundle_dir)
    return Runtime(settings, engine, core, issuer, bundles, ledger)


class ChainClock:
    """Time as the chain sees it (latest block timestamp), for test chains that are warped."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def now(self) -> float:
        return float(self._ledger.chain_time())

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds))


def settlement_rules(settings: Settings) -> SettlementRules:
    """The configured SettlementRules (defaults for every field not set)."""
    from clearing.settlement.rules import SettlementRules

    try:
        return SettlementRules.model_validate(settings.settlement_rules)
    except ValueError as exc:
        raise InvalidMessage(str(exc), field="settings.settlement_rules") from exc


def attach_settlement(
    worker: Worker, settings: Settings, *, ledger: Ledger, digests: DigestSource | None = None
) -> Worker:
    """Give a lifecycle worker the meter-oracle and clearing-house steps its keys allow.

    Without ``oracle_key`` the verify step stays BLOCKED naming the setting. Netting is on
    unless ``netting`` is false (:func:`clearing_house_account` says with which key; without
    one, sessions finalize without netting and the log says so). Hooks already set are kept.
    ``digests`` supplies the CPOs' readings digests the verify step needs under terms that
    require them; by default those the CPOs posted to the service
    (``POST /sessions/{id}/readings-digests``); while one is missing the verify step stays
    BLOCKED, naming it.
    """
    from market.clearing_house.service import settle_session
    from market.lifecycle.verification import make_verification_hook
    from market.readings_digests import stored_digest_source

    rules = settlement_rules(settings)
    if worker.settlement_rules is None:
        worker.settlement_rules = rules  # committed into each new session's terms
    if worker.verification_hook is None and settings.oracle_key:
        oracle = ledger.client.add_account(settings.oracle_key)
        worker.verification_hook = make_verification_hook(
            engine=worker.engine,
            ledger=ledger,
            bundles=worker.bundles,
            oracle=oracle,
            rules=rules,
            digests=digests if digests is not None else stored_digest_source(worker.engine),
        )
    house = clearing_house_account(settings, ledger) if worker.clearing_hook is None else None
    if house is not None:
        fee_recipient = settings.fee_recipient or house

        def clearing_hook(s: MarketSession) -> str:
            out = settle_session(
                engine=worker.engine,
                ledger=ledger,
                bundles=worker.bundles,
                session_id=s.id,
                clearing_house=house,
                fee_recipient=fee_recipient,
                crash_point=worker.crash_point,
            )
            return f"{out['action']} ({len(out['members'])} members)"

        worker.clearing_hook = clearing_hook
    return worker


def clearing_house_account(settings: Settings, ledger: Ledger) -> str | None:
    """The account that sends ``settleNetting``, or None (netting off, said in the log).

    ``clearing_house_key`` when set; else, in development, the operator's own account when it
    holds CLEARING_HOUSE on-chain (the embedded chain grants it), so ``flexmarket serve`` nets
    out of the box. Production never gets here without the key (``refuse_default_secrets``).
    """
    if not settings.netting:
        log.warning("netting off (FLEXMARKET_NETTING=false): FINAL sessions are not netted")
        return None
    if settings.clearing_house_key:
        return ledger.client.add_account(settings.clearing_house_key)
    operator = ledger.operator
    if _operator_is_house(settings, ledger):
        log.info("netting with the development operator %s (holds CLEARING_HOUSE)", operator)
        return operator
    log.warning(
        "netting off: no FLEXMARKET_CLEARING_HOUSE_KEY and the operator %s does not hold "
        "CLEARING_HOUSE; set the key (or FLEXMARKET_NETTING=false to silence this)",
        operator,
    )
    return None


def _operator_is_house(settings: Settings, ledger: Ledger) -> bool:
    operator = ledger.operator
    role = ledger.market.role("CLEARING_HOUSE")
    return bool(
        settings.mode == "development" and operator and ledger.market.has_role(role, operator)
    )


def nets(settings: Settings, ledger: Ledger) -> bool:
    """Whether this service nets FINAL sessions (:func:`clearing_house_account` finds a
    sender), without a log line: ``GET /deployment`` advertises it, so every FSP gateway
    names the DSOs as payees and waits for the netting before it withdraws. Read once per
    process: a role granted later shows after a restart."""
    if not settings.netting:
        return False
    if settings.clearing_house_key:  # a key without the role would only see its nettings revert
        from eth_account import Account

        house = Account.from_key(settings.clearing_house_key).address
        return bool(ledger.market.has_role(ledger.market.role("CLEARING_HOUSE"), house))
    return _operator_is_house(settings, ledger)
