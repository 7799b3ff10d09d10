"""An operator dishonest from the start about what delivery is measured against: each FSP
commits the hashes of its prognosis (baseline) and portfolio (meters per congestion point) with
its offers; the operator then verifies delivery against a substituted prognosis or a portfolio
with another meter, while every bundle it publishes stays consistent with the chain's other
hashes. The audit exits 1 naming the class; the honest twin (same staging) exits 0.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from audit_helpers import CPS, Route, actors_of, audit, codes, small_bundle

from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.delivery import DeliveryInputs, Portfolio
from clearing.settlement.meter import MeterRef
from market.audit.staging import StagedSession, Tamper, stage_session, station_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _stage(chain: Any, route: Route, tamper: Tamper | None = None) -> StagedSession:
    """The small audit session, with one published prognosis per FSP and congestion point."""
    actors = actors_of(chain)
    bundle = small_bundle(list(actors.fsps))
    prognoses = tuple(
        DPrognosis(
            prognosis_id=str(uuid.uuid4()),
            session_id=bundle.session_id,
            fsp=fsp.lower(),
            congestion_point=cp,
            isps=tuple(BaselineIsp(isp_index=t, power_w=200_000) for t in range(bundle.isp_count)),
        )
        for fsp in actors.fsps
        for cp in CPS
    )
    return stage_session(
        market=chain.contracts.market,
        token=chain.contracts.token,
        control=chain.node,
        actors=actors,
        bundle=bundle.model_copy(update={"prognoses": prognoses}),
        folder=route.folder,
        tamper=tamper,
    )


def test_honest_twin_passes_the_fsp_data_check(chain, route) -> None:
    staged = _stage(chain, route)
    fsp = actors_of(chain).fsps[0]
    committed = chain.contracts.market.offer_commitment(staged.onchain_id, fsp)
    assert committed.prognosis_hash != bytes(32) and committed.portfolio_hash != bytes(32)
    report = audit(chain, route, staged)
    assert report.exit_code == 0, report.to_json()
    (session,) = report.sessions
    assert session.check("fsp_data").status == "pass"


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_prognosis_substituted_at_verification(chain, route) -> None:
    """The oracle measures one FSP against an inflated baseline (a prognosis it never sent)."""
    victim = actors_of(chain).fsps[0].lower()

    def inflate(inputs: DeliveryInputs) -> DeliveryInputs:
        swapped = tuple(
            p.model_copy(
                update={
                    "isps": tuple(
                        BaselineIsp(isp_index=i.isp_index, power_w=i.power_w + 50_000)
                        for i in p.isps
                    )
                }
            )
            if p.fsp == victim
            else p
            for p in inputs.prognoses
        )
        return inputs.model_copy(update={"prognoses": swapped})

    staged = _stage(chain, route, Tamper(delivery_inputs=inflate))
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    found = [f for f in report.findings if f.code == "prognosis.substituted"]
    assert [f.subject for f in found] == [victim], report.to_json()
    assert "portfolio.substituted" not in codes(report)


@pytest.mark.parametrize("route", ["dir"], indirect=True)
def test_portfolio_meter_substituted_at_verification(chain, route) -> None:
    """The oracle counts another meter (a competitor's station) in one FSP's portfolio."""
    fsps = actors_of(chain).fsps
    victim, competitor = fsps[0].lower(), fsps[1].lower()

    def swap_meter(inputs: DeliveryInputs) -> DeliveryInputs:
        out = []
        for p in inputs.portfolios:
            if p.fsp == victim and p.congestion_point == CPS[0]:
                other = MeterRef(station=station_of(competitor, CPS[0]), evse=1)
                p = Portfolio(fsp=p.fsp, congestion_point=p.congestion_point, meters=(other,))
            out.append(p)
        return inputs.model_copy(update={"portfolios": tuple(out)})

    staged = _stage(chain, route, Tamper(delivery_inputs=swap_meter))
    report = audit(chain, route, staged)
    assert report.exit_code == 1, report.to_json()
    found = [f for f in report.findings if f.code == "portfolio.substituted"]
    assert [f.subject for f in found] == [victim], report.to_json()
    assert "prognosis.substituted" not in codes(report)
