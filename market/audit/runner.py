"""``run_audit``: read the chain, fetch the bundles, run every check, collect the report."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from adapters.chain.types import SessionState
from clearing.encoding import hex32, uuid_to_bytes32
from market.audit.chain_view import AuditedSession, ChainView, connect, read_chain
from market.audit.check_bundles import check_bundle_hashes
from market.audit.check_clearing import check_clearing
from market.audit.check_delivery import check_delivery
from market.audit.check_lifecycle import check_lifecycle
from market.audit.check_money import check_market_money, check_money
from market.audit.check_offers import check_offers
from market.audit.check_reservations import check_reservations
from market.audit.findings import AuditCannotRun, AuditReport, CheckResult, SessionAudit
from market.audit.session_bundles import SessionBundles
from market.audit.sources import (
    BundleSource,
    Receipts,
    StationRegistry,
    load_receipts,
    open_source,
    uuid_map,
)

_T = TypeVar("_T")


def parse_session_arg(value: str) -> tuple[bytes, str | None]:
    """``--session``: a session UUID or its on-chain 0x bytes32 id."""
    if value.startswith("0x") and len(value) == 66:
        return bytes.fromhex(value[2:]), None
    try:
        canonical = str(uuid.UUID(value))
    except ValueError as exc:
        raise AuditCannotRun(f"--session {value!r}: neither a UUID nor a 0x bytes32 id") from exc
    return uuid_to_bytes32(canonical), canonical


def run_audit(
    *,
    rpc: str,
    market: str,
    bundles: str | None = None,
    session: str | None = None,
    receipts: Path | None = None,
    station_keys: Path | None = None,
    from_block: int = 0,
    step: int = 2000,
) -> AuditReport:
    """Audit every session of ``market`` (or one); never raises for findings or missing inputs."""
    started = time.perf_counter()
    report = AuditReport(rpc=rpc, market=market, bundles=bundles)
    try:
        _run(report, rpc, market, bundles, session, receipts, station_keys, from_block, step)
    except AuditCannotRun as exc:
        report.fatal = str(exc)
    report.seconds = time.perf_counter() - started
    return report


def _timed(report: AuditReport, key: str, fn: Callable[[], _T]) -> _T:
    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        report.timing[key] = report.timing.get(key, 0.0) + time.perf_counter() - t0


def _run(
    report: AuditReport,
    rpc: str,
    market: str,
    bundles: str | None,
    session: str | None,
    receipts_path: Path | None,
    station_keys: Path | None,
    from_block: int,
    step: int,
) -> None:
    only, only_uuid = parse_session_arg(session) if session else (None, None)
    client, contract = _timed(report, "connect_s", lambda: connect(rpc, market))
    report.market = contract.address
    view: ChainView = _timed(
        report,
        "chain_s",
        lambda: read_chain(client, contract, from_block=from_block, step=step, only=only),
    )
    source: BundleSource | None = open_source(bundles) if bundles else None
    receipts = load_receipts(receipts_path) if receipts_path else []
    known: list[str] = [r.session_id for r in receipts]
    if only_uuid:
        known.append(only_uuid)
    if source is not None:
        known += _timed(report, "bundles_s", source.session_ids)
    ids = uuid_map(known)
    registry = _registry(source, station_keys)
    for cs in sorted(view.sessions.values(), key=lambda s: s.chain.index):
        sid = ids.get(cs.session_id)
        mine = [r for r in receipts if r.session_id == sid]
        report.sessions.append(audit_session(report, view, cs, sid, source, registry, mine))
    report.market_checks = check_market_money(view)


def _registry(source: BundleSource | None, station_keys: Path | None) -> StationRegistry | None:
    if station_keys is not None:
        import json

        try:
            data = json.loads(Path(station_keys).read_text())
        except (OSError, ValueError) as exc:
            raise AuditCannotRun(f"--station-keys {station_keys}: cannot read ({exc})") from exc
        return StationRegistry.from_json(data, str(station_keys))
    return source.station_registry() if source is not None else None


def audit_session(
    report: AuditReport,
    view: ChainView,
    cs: AuditedSession,
    session_uuid: str | None,
    source: BundleSource | None,
    registry: StationRegistry | None,
    receipts: list[Receipts],
) -> SessionAudit:
    """All seven checks of one session (bundle-based ones as far as the state reached)."""
    state = cs.chain.state
    audit = SessionAudit(onchain_id=hex32(cs.session_id), session_id=session_uuid, state=state.name)
    sb = SessionBundles(session_id=session_uuid)
    missing: list[str] = []
    needed = []
    # A session that refundStuck ended has the bundles of the steps that did happen, no more.
    refunded = bool(cs.named("SessionRefundedStuck"))
    if state >= SessionState.CLEARED and (not refunded or cs.named("ClearingPosted")):
        needed += ["input", "result"]
    if state >= SessionState.VERIFIED and (not refunded or cs.named("DeliveryAttested")):
        needed.append("delivery")
    if needed and source is None:
        missing.append("no --bundles given")
    elif needed and session_uuid is None:
        missing.append(f"no published bundles found for on-chain session {audit.onchain_id}")
    elif needed:
        assert source is not None and session_uuid is not None
        for kind in needed:
            content = _timed(report, "bundles_s", partial(source.get, session_uuid, kind))
            if content is None:
                missing.append(
                    f"{kind} bundle of session {session_uuid} not found at {source.describe()}"
                )
            setattr(sb, f"{kind}_bytes", content)
        sb.parse()

    def run(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
        t0 = time.perf_counter()
        result = fn()
        result.seconds = time.perf_counter() - t0
        report.timing[f"{name}_s"] = report.timing.get(f"{name}_s", 0.0) + result.seconds
        audit.checks.append(result)
        return result

    def blocked(name: str) -> CheckResult:
        return CheckResult(name).error("could not run: " + "; ".join(missing))

    if missing:
        for name in ("bundle_hashes", "offers", "clearing", "reservations", "delivery"):
            run(name, partial(blocked, name))
    else:
        run("bundle_hashes", lambda: check_bundle_hashes(cs, sb))
        run("offers", lambda: check_offers(cs, sb, receipts))
        run("clearing", lambda: check_clearing(cs, sb))
        run("reservations", lambda: check_reservations(cs, sb))
        run("delivery", lambda: check_delivery(cs, sb, registry))
    run("money", lambda: check_money(cs, sb))
    run("lifecycle", lambda: check_lifecycle(cs, view))
    if state < SessionState.CLEARED:
        for c in audit.checks[:5]:
            if c.status == "pass" and not c.findings and c.name != "offers":
                c.skip(f"session is {state.name}")
    return audit
