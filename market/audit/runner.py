"""``run_audit``: read the chain, fetch the bundles, run every check, collect the report."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from adapters.chain.types import SessionState
from clearing.bundle import InputBundle
from clearing.encoding import hex32, uuid_to_bytes32
from market.audit.chain_view import AuditedSession, ChainView, connect, read_chain
from market.audit.check_bundles import check_bundle_hashes
from market.audit.check_clearing import check_clearing
from market.audit.check_code import check_market_code
from market.audit.check_delivery import check_delivery
from market.audit.check_dispute import check_dispute
from market.audit.check_fsp_data import check_fsp_data
from market.audit.check_lifecycle import check_lifecycle
from market.audit.check_money import check_market_money, check_money
from market.audit.check_netting import check_netting, netting_tx
from market.audit.check_offers import check_offers
from market.audit.check_readings import check_readings
from market.audit.check_reservations import check_reservations
from market.audit.check_roles import check_roles
from market.audit.check_terms import check_terms
from market.audit.check_uftp import check_uftp_offers, load_uftp_evidence
from market.audit.cpo_registry import CpoRegistry, cpo_stations
from market.audit.findings import (
    AuditCannotRun,
    AuditReport,
    CheckResult,
    Finding,
    SessionAudit,
)
from market.audit.receipts import Receipts, ReceiptsProblem, load_receipts
from market.audit.registry import StationRegistry
from market.audit.session_bundles import SessionBundles
from market.audit.sources import BundleSource, UnsafeBundle, open_source, parse, uuid_map

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
    uftp_evidence: Path | None = None,
) -> AuditReport:
    """Audit every session of ``market`` (or one); never raises for findings or missing inputs."""
    started = time.perf_counter()
    report = AuditReport(rpc=rpc, market=market, bundles=bundles)
    try:
        _run(
            report,
            rpc,
            market,
            bundles,
            session,
            receipts,
            station_keys,
            from_block,
            step,
            uftp_evidence,
        )
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
    uftp_evidence: Path | None = None,
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
    inputs = CheckResult("inputs")  # malformed inputs that belong to no session
    receipts, problems = _receipts(receipts_path, inputs)
    known: list[str] = [r.session_id for r in receipts]
    known += [p.session_id for p in problems if p.session_id]
    if only_uuid:
        known.append(only_uuid)
    if source is not None:
        try:
            known += _timed(report, "bundles_s", source.session_ids)
        except AuditCannotRun as exc:
            inputs.error(str(exc), "sessions.unreadable")
    ids = uuid_map(known)
    # AGR-signed UFTP offers: each session's uftp bundle, plus the gateway's evidence if given
    evidence = load_uftp_evidence(uftp_evidence) if uftp_evidence is not None else []
    uftp_check = partial(
        check_uftp_offers, evidence=evidence, chain_id=client.chain_id, market=contract.address
    )
    registry, registry_error = _registry(source, station_keys)
    if registry is not None:  # every key is checked against the CPO-registered one
        times = dict(view.block_ts)

        def block_time(block: int) -> int:
            if block not in times:
                times[block] = view.client.block_timestamp(block)
            return times[block]

        registry.cpo = CpoRegistry(cpo_stations(view.events, block_time))
    for problem in registry.problems if registry else []:
        inputs.error(problem, "registry.entry_invalid")
    for cs in sorted(view.sessions.values(), key=lambda s: s.chain.index):
        sid = ids.get(cs.session_id)
        ctx = _Inputs(
            source=source,
            registry=registry,
            registry_error=registry_error,
            receipts=[r for r in receipts if r.session_id == sid],
            receipt_problems=[p.finding for p in problems if sid and p.session_id == sid],
            uftp_check=uftp_check,
            uftp_evidence=uftp_evidence is not None,
            domain=(client.chain_id, contract.address),
        )
        report.sessions.append(audit_session(report, view, cs, sid, ctx))
    _unknown_sessions(view, only, receipts, problems, inputs)
    for p in problems:
        if p.session_id is None:
            inputs.error(p.finding.message, p.finding.code, p.finding.subject)
    code = _timed(report, "code_s", lambda: check_market_code(client, contract.address))
    report.market_checks = [*check_market_money(view), inputs, code, check_roles(view)]


@dataclass
class _Inputs:
    """What a session's audit reads besides the chain."""

    source: BundleSource | None
    registry: StationRegistry | None
    registry_error: str | None
    receipts: list[Receipts]
    receipt_problems: list[Finding]
    uftp_check: Callable[[InputBundle | None, bytes | None], CheckResult] | None = None
    uftp_evidence: bool = False  # --uftp-evidence given: run the check in every session
    domain: tuple[int, str] = (0, "")  # (chain id, market address) the audit reads


def _receipts(
    path: Path | None, inputs: CheckResult
) -> tuple[list[Receipts], list[ReceiptsProblem]]:
    if path is None:
        return [], []
    try:
        return load_receipts(path)
    except AuditCannotRun as exc:
        inputs.error(str(exc), "receipts.unreadable")
        return [], []


def _unknown_sessions(
    view: ChainView,
    only: bytes | None,
    receipts: list[Receipts],
    problems: list[ReceiptsProblem],
    inputs: CheckResult,
) -> None:
    """Receipts naming a session the market never created: the FSP was promised one."""
    named = {(r.session_id, r.fsp) for r in receipts}
    named |= {(p.session_id, "") for p in problems if p.session_id}
    for sid, fsp in sorted(named):
        onchain = uuid_to_bytes32(sid)
        if onchain in view.sessions:
            continue
        if only is not None:
            inputs.notes.append(f"receipts for session {sid} not audited (--session)")
            continue
        inputs.add(
            "receipts.unknown_session",
            f"receipts for session {sid} ({hex32(onchain)}), which the market never created",
            f"{sid}/{fsp}" if fsp else sid,
        )


def _registry(
    source: BundleSource | None, station_keys: Path | None
) -> tuple[StationRegistry | None, str | None]:
    """The registry and, when it cannot be read at all, why (each session then says so)."""
    try:
        if station_keys is not None:
            try:
                raw = Path(station_keys).read_bytes()
            except OSError as exc:
                raise AuditCannotRun(f"--station-keys {station_keys}: cannot read ({exc})") from exc
            where = f"--station-keys {station_keys}"
            return StationRegistry.from_json(parse(raw, where), where), None
        return (source.station_registry() if source is not None else None), None
    except AuditCannotRun as exc:
        return None, str(exc)


def _fetch(
    report: AuditReport, source: BundleSource, sid: str, kind: str
) -> tuple[bytes | None, tuple[str, str] | None]:
    """A bundle's bytes, or None and (code, reason) when it is absent or refused."""
    try:
        content = _timed(report, "bundles_s", partial(source.get, sid, kind))
    except UnsafeBundle as exc:
        return None, ("bundle.unsafe", str(exc))
    except AuditCannotRun as exc:
        return None, ("bundle.unreadable", str(exc))
    if content is None:
        return None, (
            "bundle.missing",
            f"{kind} bundle of session {sid} not found at {source.describe()}",
        )
    return content, None


def _refused(name: str, refused: tuple[str, str]) -> CheckResult:
    """A check whose bundle was refused or unreadable: ``refused`` is (code, reason)."""
    return CheckResult(name).error(refused[1], refused[0])


def audit_session(
    report: AuditReport,
    view: ChainView,
    cs: AuditedSession,
    session_uuid: str | None,
    ctx: _Inputs,
) -> SessionAudit:
    """Every check of one session (bundle-based ones as far as the state reached); a check
    that fails on input it cannot read is an error of that check, never an exception."""
    state = cs.chain.state
    audit = SessionAudit(onchain_id=hex32(cs.session_id), session_id=session_uuid, state=state.name)
    sb = SessionBundles(session_id=session_uuid)
    missing: list[tuple[str, str]] = []
    needed = []
    # A session that refundStuck ended has the bundles of the steps that did happen, no more.
    refunded = bool(cs.named("SessionRefundedStuck"))
    if state >= SessionState.CLEARED and (not refunded or cs.named("ClearingPosted")):
        needed += ["input", "result"]
    if state >= SessionState.VERIFIED and (not refunded or cs.named("DeliveryAttested")):
        needed.append("delivery")
    disputed = bool(cs.named("SessionDisputed"))
    source = ctx.source
    if needed and source is None:
        missing.append(("bundle.missing", "no --bundles given"))
    elif needed and session_uuid is None:
        missing.append(
            (
                "bundle.missing",
                f"no published bundles found for on-chain session {audit.onchain_id}",
            )
        )
    elif needed:
        assert source is not None and session_uuid is not None
        for kind in needed:
            content, why = _fetch(report, source, session_uuid, kind)
            if why is not None:
                missing.append(why)
            setattr(sb, f"{kind}_bytes", content)
        if cs.resolved:
            sb.resolution_bytes, _ = _fetch(report, source, session_uuid, "resolution")
        try:
            sb.parse()
        except Exception as exc:  # a safety net, as for the checks below
            missing.append(("audit.check_crashed", f"bundles not parsed: {exc!r}"))
    if source is not None and session_uuid is not None:
        # optional: the input bundle carries the same terms; before clearing only this exists
        sb.terms_bytes, _ = _fetch(report, source, session_uuid, "terms")

    def run(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # a safety net: malformed input must never be a traceback
            result = CheckResult(name).error(
                f"could not run on this input: {type(exc).__name__}: {exc}", "audit.check_crashed"
            )
        result.seconds = time.perf_counter() - t0
        report.timing[f"{name}_s"] = report.timing.get(f"{name}_s", 0.0) + result.seconds
        audit.checks.append(result)
        return result

    def blocked(name: str) -> CheckResult:
        res = CheckResult(name)
        for code, why in missing:
            res.error(f"could not run: {why}", code)
        return res

    if missing:
        for name in ("bundle_hashes", "offers", "clearing", "reservations", "delivery", "fsp_data"):
            run(name, partial(blocked, name))
    else:
        run("bundle_hashes", lambda: check_bundle_hashes(cs, sb))
        run("offers", lambda: check_offers(cs, sb, ctx.receipts))
        if ctx.uftp_check is not None:
            uftp_check = ctx.uftp_check
            # the uftp bundle exists only for a session with UFTP offers; absent is no finding
            uftp_bytes, why = None, None
            if source is not None and session_uuid is not None and sb.input is not None:
                uftp_bytes, why = _fetch(report, source, session_uuid, "uftp")
            if why is not None and why[0] != "bundle.missing":
                run("uftp_offers", lambda: CheckResult("uftp_offers").error(why[1], why[0]))
            elif uftp_bytes is not None or ctx.uftp_evidence:
                run("uftp_offers", lambda: uftp_check(sb.input, uftp_bytes))
        run("clearing", lambda: check_clearing(cs, sb))
        run("reservations", lambda: check_reservations(cs, sb))
        run(
            "delivery",
            lambda: check_delivery(cs, sb, ctx.registry, ctx.registry_error),
        )
        run("fsp_data", lambda: check_fsp_data(cs, sb))
        readings_bytes, refused = None, None
        if source is not None and session_uuid is not None and state >= SessionState.VERIFIED:
            readings_bytes, refused = _fetch(report, source, session_uuid, "readings")
        if refused is not None and refused[0] != "bundle.missing":
            run("readings", partial(_refused, "readings", refused))
        else:
            run(
                "readings",
                lambda: check_readings(
                    cs, sb, readings_bytes, ctx.registry, ctx.registry_error, domain=ctx.domain
                ),
            )
    offers = audit.check("offers")
    for f in ctx.receipt_problems:
        offers.error(f.message, f.code, f.subject)
    run("money", lambda: check_money(cs, sb))
    run("lifecycle", lambda: check_lifecycle(cs, view))
    if state == SessionState.FINAL and netting_tx(cs, view) is not None:
        netting_bytes, refused = None, None
        if source is not None and session_uuid is not None:
            netting_bytes, refused = _fetch(report, source, session_uuid, "netting")
        if refused is not None and refused[0] != "bundle.missing":
            run("netting", partial(_refused, "netting", refused))
        elif missing:
            run("netting", partial(blocked, "netting"))
        else:
            run("netting", lambda: check_netting(cs, sb, view, netting_bytes, ctx.domain))
    run("terms", lambda: check_terms(cs, sb, view))
    if disputed:
        if missing:
            run("dispute", partial(blocked, "dispute"))
        else:
            run("dispute", lambda: check_dispute(cs, sb, ctx.registry, ctx.registry_error))
    if state < SessionState.CLEARED:
        for c in audit.checks[:5]:
            if c.status == "pass" and not c.findings and c.name != "offers":
                c.skip(f"session is {state.name}")
    return audit
