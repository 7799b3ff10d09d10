"""The auditor's checks of one session, run by the service on request (read-only).

Why in the service: an auditor with only a browser can see each check's verdict and evidence.
It is the same code as ``flexmarket audit`` (``market.audit.run_audit``), fed with the chain the
service is connected to and a copy of the session's published bundles; ``POST`` swaps one
bundle for the uploaded bytes first (nothing is stored), so anyone can see a tampered bundle
fail. Audits are CPU-bound: one runs at a time, a second caller gets 429.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from market.api.deps import CoreDep
from market.api.routers.sessions import load_session
from market.bundles import KINDS, BundleStore
from market.clearing_house import store as house_store
from market.core import MarketCore
from market.errors import (
    ChainUnavailable,
    FlexMarketError,
    InvalidMessage,
    NotFound,
    WrongSessionState,
)
from market.ledger import Ledger
from market.store import models as m

router = APIRouter(tags=["audit"])
_RUNNING = threading.Lock()


class AuditBusy(FlexMarketError):
    """Another audit is running on this service; retry in a few seconds."""

    status = 429
    slug = "audit-busy"


class AuditCheck(BaseModel):
    """One check: ``status`` pass/fail/skip/error, findings and notes as its evidence."""

    name: str
    status: str
    findings: list[dict[str, str]]
    errors: list[dict[str, str]]
    notes: list[str]
    seconds: float


class SessionAuditResult(BaseModel):
    session_id: str
    onchain_id: str
    state: str
    result: str  # pass | fail | error
    message: str
    replaced: str | None  # the bundle kind swapped for uploaded bytes, if any
    rpc: str
    market: str
    checks: list[AuditCheck]
    market_checks: list[AuditCheck]


def _stage(core: MarketCore, bundles: BundleStore, session_id: str, folder: Path) -> None:
    """The session's published bundles and the station registry, laid out for DirSource."""
    target = folder / session_id
    target.mkdir(parents=True)
    for kind in KINDS:
        try:
            (target / f"{kind}.json").write_bytes(bundles.get(session_id, kind))
        except NotFound:
            continue
    resolution = house_store.load_resolution(core.engine, session_id)
    if resolution is not None:
        (target / "resolution.json").write_bytes(resolution["bundle"])
    published = bundles.directory / "stations.json"
    if published.is_file():
        (folder / "stations.json").write_bytes(published.read_bytes())
        return
    with Session(core.engine) as db:
        assets = db.exec(select(m.Asset).order_by(col(m.Asset.id)))
        registry = [
            {"station_id": a.station_id, "meter_public_key": a.meter_public_key, "owner": a.owner}
            for a in assets
            if a.meter_public_key
        ]
    (folder / "stations.json").write_text(json.dumps(registry))


def _audit(request: Request, session_id: str, replace: tuple[str, bytes] | None) -> Any:
    from market.audit.runner import run_audit

    core: MarketCore = request.app.state.core
    bundles: BundleStore = request.app.state.bundles
    ledger: Ledger | None = getattr(request.app.state, "ledger", None)
    session = load_session(core, session_id)
    if session.state == "PENDING":
        raise WrongSessionState("the session is not on-chain yet: nothing to audit", field="state")
    if ledger is None:
        raise ChainUnavailable("this service runs without a chain (no ledger)", field="rpc_url")
    if not _RUNNING.acquire(blocking=False):
        raise AuditBusy("another audit is running; retry in a few seconds", field="session_id")
    try:
        with tempfile.TemporaryDirectory(prefix="flexmarket-audit-") as tmp:
            folder = Path(tmp)
            staged = json.dumps(str(folder))[1:-1]  # as it appears inside JSON strings
            _stage(core, bundles, session_id, folder)
            if replace is not None:
                kind, content = replace
                (folder / session_id / f"{kind}.json").write_bytes(content)
            report = run_audit(
                rpc=ledger.client.rpc_url,
                market=ledger.market_address,
                bundles=str(folder),
                session=session_id,
                from_block=ledger.deploy_block,
            )
    finally:
        _RUNNING.release()
    if report.fatal is not None or not report.sessions:
        raise ChainUnavailable(f"the audit could not run: {report.message}", field="rpc_url")
    # The staged copy is gone once the audit ends; name what it held instead of its temp path.
    audited = json.loads(json.dumps(report.sessions[0].to_json()).replace(staged, "bundles"))
    return {
        **{k: audited[k] for k in ("onchain_id", "state", "result", "checks")},
        "session_id": session_id,
        "message": report.message,
        "replaced": replace[0] if replace else None,
        "rpc": report.rpc,
        "market": report.market,
        "market_checks": [c.to_json() for c in report.market_checks],
    }


@router.get(
    "/sessions/{session_id}/audit",
    response_model=SessionAuditResult,
    responses={404: {}, 409: {}, 429: {}, 503: {}},
)
async def audit_session(session_id: str, core: CoreDep, request: Request) -> Any:
    """Run the auditor's checks of the session against the chain and its published bundles."""
    return await run_in_threadpool(_audit, request, session_id, None)


@router.post(
    "/sessions/{session_id}/audit/{kind}",
    response_model=SessionAuditResult,
    responses={404: {}, 409: {}, 422: {}, 429: {}, 503: {}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The bundle bytes to audit in place of the published one",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def audit_with_bundle(
    session_id: str,
    kind: Literal["input", "result", "delivery", "uftp"],
    core: CoreDep,
    request: Request,
) -> Any:
    """The same audit with the published ``kind`` bundle replaced by the body (not stored)."""
    content = await request.body()
    if not content.strip():
        raise InvalidMessage("send the bundle's bytes as the request body", field="body")
    return await run_in_threadpool(_audit, request, session_id, (kind, content))
