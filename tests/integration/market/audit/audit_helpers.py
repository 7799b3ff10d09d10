"""A small honest session for the audit tests, and helpers to tamper with published bundles."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearing.bundle import CongestionPoint, InputBundle, MarketRules
from clearing.encoding import canonical_json
from clearing.messages import FlexOffer, FlexOfferOption, FlexRequest, IspPower, RequestIsp
from market.audit.findings import AuditReport
from market.audit.runner import run_audit
from market.audit.staging import Actors, StagedSession, Tamper, stage_session

CPS = ("EAN-AUDIT-A", "EAN-AUDIT-B")
EUR = 1_000_000


@dataclass
class Route:
    name: str  # "dir" or "http"
    folder: Path  # where the session bundles are published
    bundles: str  # what --bundles gets


def actors_of(chain: Any) -> Actors:
    a = chain.addresses
    return Actors(
        operator=a["operator"],
        dso=a["dso"],
        oracle=a["oracle"],
        fsps=[a["fsp_a"], a["fsp_b"], a["fsp_c"]],
        cpo=a["cpo"],
        cpo_key=chain.keys["cpo"],  # signs the readings digests every session's terms require
    )


def small_bundle(fsps: list[str]) -> InputBundle:
    """Two congestion points with one UP request each; every FSP offers at both."""
    sid = str(uuid.uuid4())
    requests = [
        FlexRequest(
            request_id=str(uuid.uuid4()),
            session_id=sid,
            congestion_point=cp,
            direction="UP",
            revision=0,
            expires_at=0,
            max_price_per_mwh=400 * EUR,
            budget_units=50 * EUR,
            all_or_nothing=False,
            isps=tuple(
                RequestIsp(isp_index=t, disposition="Requested", min_power_w=0, max_power_w=40_000)
                for t in range(4)
            ),
        )
        for cp in CPS
    ]
    offers = [
        FlexOffer(
            offer_id=str(uuid.uuid4()),
            session_id=sid,
            fsp=fsp.lower(),
            request_id=req.request_id,
            congestion_point=req.congestion_point,
            direction="UP",
            expires_at=0,
            options=(
                FlexOfferOption(
                    option_ref="opt-0",
                    isps=tuple(IspPower(isp_index=t, power_w=10_000 + 1_000 * f) for t in range(4)),
                    price_per_mwh=(100 + 10 * f + 5 * j) * EUR,
                    min_activation_ppm=500_000,
                ),
            ),
        )
        for f, fsp in enumerate(fsps)
        for j, req in enumerate(requests)
    ]
    return InputBundle(
        session_id=sid,
        isp_s=900,
        isp_count=4,
        start_time=0,
        congestion_points=tuple(CongestionPoint(code=cp) for cp in CPS),
        requests=tuple(requests),
        offers=tuple(offers),
        rules=MarketRules(time_limit_s=30),
    )


def stage(
    chain: Any,
    route: Route,
    tamper: Tamper | None = None,
    *,
    actors_override: Actors | None = None,
    **kw: Any,
) -> StagedSession:
    actors = actors_override or actors_of(chain)
    return stage_session(
        market=chain.contracts.market,
        token=chain.contracts.token,
        control=chain.node,
        actors=actors,
        bundle=small_bundle(list(actors.fsps)),
        folder=route.folder,
        tamper=tamper,
        **kw,
    )


def audit(chain: Any, route: Route, staged: StagedSession, **kw: Any) -> AuditReport:
    """Audit through the route; over HTTP the session is named (the service's own store does not
    list it) and the station keys come from the published registry file."""
    extra: dict[str, Any] = {}
    if route.name == "http":
        extra = {"session": staged.session_id, "station_keys": route.folder / "stations.json"}
    return run_audit(
        rpc=chain.node.rpc_url,
        market=chain.contracts.market.address,
        bundles=route.bundles,
        **extra,
        **kw,
    )


def codes(report: AuditReport) -> set[str]:
    return {f.code for f in report.findings}


def edit_json(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Load a published bundle, let ``change`` edit it, write it back canonically."""
    data = json.loads(path.read_bytes())
    change(data)
    path.write_bytes(canonical_json(data))
