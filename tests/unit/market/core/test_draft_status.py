"""A draft's status as the DSO's page sees it: an approval does not outlive its session."""

from clearing.messages import FlexRequest, RequestIsp
from market.core.drafts import draft_public
from market.store import models as m

GATE = 10_000


def _draft() -> m.RequestDraft:
    return m.RequestDraft(
        id="d1",
        session_id="s1",
        dso="0x" + "11" * 20,
        request_json=FlexRequest(
            request_id="00000000-0000-4000-8000-000000000001",
            session_id="00000000-0000-4000-8000-000000000002",
            congestion_point="CP-1",
            direction="UP",
            revision=1,
            expires_at=GATE + 500,
            max_price_per_mwh=400_000_000,
            budget_units=50_000_000,
            all_or_nothing=False,
            isps=[RequestIsp(isp_index=0, disposition="Requested", min_power_w=0, max_power_w=1)],
        )
        .to_canonical()
        .decode(),
        reason="r",
        forecast_json="[]",
        created_at=1,
    )


def _decision(kind: str) -> m.RequestDraftDecision:
    return m.RequestDraftDecision(
        draft_id="d1", dso="0x" + "11" * 20, decision=kind, note="", decided_at=2
    )


def _status(decision: m.RequestDraftDecision | None, now: int, requested: bool = False) -> str:
    out = draft_public(_draft(), decision, requested=requested, now=now, open_until=GATE)
    return str(out["status"])


def test_an_approval_never_posted_expires_with_its_session() -> None:
    assert _status(_decision("approve"), GATE - 1) == "approved"
    assert _status(_decision("approve"), GATE) == "expired"


def test_rejected_and_requested_stay_as_they_are_after_the_gate() -> None:
    assert _status(_decision("reject"), GATE + 1) == "rejected"
    assert _status(_decision("approve"), GATE + 1, requested=True) == "requested"
    assert _status(None, GATE - 1) == "pending"
    assert _status(None, GATE) == "expired"
