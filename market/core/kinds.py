"""The signed message kinds the core accepts: body model and the roles allowed to send each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from market.store.models import (
    AssetCreate,
    CongestionPointCreate,
    DispatchAckCreate,
    DispatchStatusCreate,
    MeterReadingCreate,
    ParticipantCreate,
    RequestDraftCreate,
    RequestDraftDecisionCreate,
    SessionCreate,
    StationStatusCreate,
)

#: Session states in which the gate is still open.
BEFORE_CLOSURE = ("PENDING", "OPEN")

#: What a per-kind handler returns: rows to insert (table model, values) and the response.
Handled = tuple[list[tuple[Any, dict[str, Any]]], "dict[str, Any] | str"]


@dataclass(frozen=True)
class Kind:
    """What one signed message kind needs: its body model and the roles allowed to send it."""

    model: type[BaseModel]
    roles: frozenset[str]


KINDS: dict[str, Kind] = {
    # a DSO only intraday, within the operator's bounds (market/core/session_policy.py)
    "session": Kind(SessionCreate, frozenset({"MARKET_OPERATOR", "DSO"})),
    "participant": Kind(
        ParticipantCreate,
        frozenset({"MARKET_OPERATOR", "DSO", "FSP", "METER_ORACLE", "ARBITER", "CPO"}),
    ),
    "congestion_point": Kind(CongestionPointCreate, frozenset({"MARKET_OPERATOR", "DSO"})),
    "asset": Kind(AssetCreate, frozenset({"FSP"})),
    "request": Kind(FlexRequest, frozenset({"DSO"})),
    "prognosis": Kind(DPrognosis, frozenset({"FSP"})),
    "offer": Kind(FlexOffer, frozenset({"FSP"})),
    # an FSP relays its own stations' signed readings (market/core/readings.py)
    "meter_reading": Kind(
        MeterReadingCreate, frozenset({"METER_ORACLE", "MARKET_OPERATOR", "FSP"})
    ),
    "dispatch_status": Kind(DispatchStatusCreate, frozenset({"MARKET_OPERATOR"})),
    "dispatch_ack": Kind(DispatchAckCreate, frozenset({"FSP"})),
    # an FSP gateway's OCPP view of the stations it registered (market/core/stations.py)
    "station_status": Kind(StationStatusCreate, frozenset({"FSP"})),
    # a DSO gateway's derived request, held for the DSO's decision (market/core/drafts.py)
    "request_draft": Kind(RequestDraftCreate, frozenset({"DSO"})),
    "request_draft_decision": Kind(RequestDraftDecisionCreate, frozenset({"DSO"})),
}

_ID_FIELDS = {
    "request": "request_id",
    "offer": "offer_id",
    "prognosis": "prognosis_id",
    "session": "session_id",
    "asset": "asset_id",
    "request_draft": "request.request_id",
    "request_draft_decision": "draft_id",
}


def id_field(kind: str) -> str:
    """The body field that names the resource a message of ``kind`` creates."""
    return _ID_FIELDS.get(kind, "id")
