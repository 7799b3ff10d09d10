"""Request drafts of the DSO gateway in manual approval: what the DSO sees before deciding.

Why a module of its own: the draft carries the forecast behind the request (worst loading and
needed power per ISP, and the forecaster's reasons) so the person approving on ``/dso`` judges
the grid's need, not only a budget.
"""

from __future__ import annotations

from clearing.messages import FlexRequest
from market.agents.dso import DsoAgent
from market.api.schemas import RequestDraftCreate
from market.store.models.request_draft import MAX_REASON_CHARS, DraftForecastIsp


def draft_of(agent: DsoAgent, req: FlexRequest) -> RequestDraftCreate:
    """A request draft with the forecast behind it: per requested ISP the worst loading and
    the power needed, and the forecaster's reasons, for the DSO to judge before approving."""
    sign = 1 if req.direction == "UP" else -1
    needs = sorted(
        (
            n
            for n in agent.needs
            if n.cp_id == req.congestion_point and n.resolved and n.power_w * sign > 0
        ),
        key=lambda n: n.isp,
    )
    reasons = sorted({n.reason for n in needs}) or ["forecast congestion"]
    reason = f"{req.congestion_point} {req.direction}: " + "; ".join(reasons)
    forecast = tuple(
        DraftForecastIsp(
            isp_index=n.isp - agent.first_isp,
            max_loading_ppm=max(0, round(n.max_loading_pct * 10_000)),
            need_w=n.power_w,
        )
        for n in needs
    )
    return RequestDraftCreate(request=req, reason=reason[:MAX_REASON_CHARS], forecast=forecast)
