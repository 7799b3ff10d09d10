"""Request drafts: FlexRequests a DSO gateway derived, held for the DSO's own decision.

Why: with ``requests.approval: manual`` the gateway forecasts and drafts, but no budget
leaves the DSO until a person approves in the wallet; the page then escrows and posts the
drafted request itself (the gateway never escrows in manual mode). Drafts and decisions are
append-only rows: a decision is a second signed message, never an update of the draft.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import FlexRequest, UuidStr
from clearing.units import MAX_POWER_W
from market.store.models.fields import CreateBody, big

MAX_REASON_CHARS = 500
#: Loading as parts per million of the element's limit (1 000 000 = 100 %).
MAX_LOADING_PPM = 100_000_000

DraftStatus = Literal["pending", "approved", "rejected", "requested", "expired"]


class DraftForecastIsp(CreateBody):
    """The forecast behind one requested ISP: the worst loading and the power needed."""

    isp_index: Annotated[StrictInt, Field(ge=0, lt=100_000)]
    max_loading_ppm: Annotated[StrictInt, Field(ge=0, le=MAX_LOADING_PPM)]
    need_w: Annotated[StrictInt, Field(ge=-MAX_POWER_W, le=MAX_POWER_W)]


class RequestDraftCreate(CreateBody):
    """A drafted request (kind ``request_draft``; DSO): the complete FlexRequest body the
    page will sign and escrow on approval, why it is needed, and the forecast per ISP."""

    request: FlexRequest
    reason: Annotated[StrictStr, Field(min_length=1, max_length=MAX_REASON_CHARS)]
    forecast: Annotated[tuple[DraftForecastIsp, ...], Field(max_length=10_000)] = ()


class RequestDraftDecisionCreate(CreateBody):
    """The DSO's decision on one of its drafts (kind ``request_draft_decision``)."""

    draft_id: UuidStr
    decision: Literal["approve", "reject"]
    note: Annotated[StrictStr, Field(max_length=MAX_REASON_CHARS)] = ""


class RequestDraft(SQLModel, table=True):
    """One draft; its id is the drafted request's id."""

    __tablename__ = "request_draft"

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    dso: str = SqlField(index=True, max_length=42)
    request_json: str = SqlField(sa_column=Column(Text, nullable=False))
    reason: str = SqlField(sa_column=Column(Text, nullable=False))
    forecast_json: str = SqlField(sa_column=Column(Text, nullable=False))
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


class RequestDraftDecision(SQLModel, table=True):
    """The one decision on a draft (its primary key makes a second one a conflict)."""

    __tablename__ = "request_draft_decision"

    draft_id: str = SqlField(primary_key=True, max_length=36)
    dso: str = SqlField(max_length=42)
    decision: str = SqlField(max_length=8)
    note: str = SqlField(sa_column=Column(Text, nullable=False))
    decided_at: int = SqlField(default=0, sa_column=big(nullable=False))


class RequestDraftPublic(BaseModel):
    """A draft as its DSO reads it, with its status now (``requested``: the request is in)."""

    draft_id: str
    session_id: str
    dso: str
    status: DraftStatus
    request: FlexRequest
    reason: str
    forecast: list[DraftForecastIsp]
    created_at: int
    decided_at: int | None = None
    note: str = ""
