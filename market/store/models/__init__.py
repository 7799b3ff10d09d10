"""The market store's models: one module per resource, each with its family of shapes.

A family is the signed create body (``XCreate``, or the clearing message itself), the table
(``X``/``XRow``) and the public answer (``XPublic``), in the way of the FastAPI full-stack
template. Integers for money (token minor units), power (W), energy (Wh) and time (Unix s).
This package imports nothing of ``market.api``: the API imports these shapes, never the reverse.
"""

from market.store.models.asset import Asset, AssetCreate, AssetPublic
from market.store.models.auth import AuthNonce, RevokedToken
from market.store.models.bookkeeping import (
    BundleRecord,
    ChainNonce,
    IndexerBlock,
    IndexerCursor,
    IndexerUndo,
    LifecycleStep,
    MessageLog,
    WorkerLock,
)
from market.store.models.congestion_point import (
    CongestionPoint,
    CongestionPointCreate,
    CongestionPointPublic,
)
from market.store.models.event import MARKET_WIDE, MarketEvent, add_event, event_values
from market.store.models.flex_request import FlexRequestRow, RequestPublic
from market.store.models.market_session import MarketSession, SessionCreate, SessionPublic
from market.store.models.metering import (
    MeterEvent,
    MeterReading,
    MeterReadingCreate,
    MeterReadingPublic,
)
from market.store.models.offer import OfferPublic, OfferReceipt, OfferReceiptPublic, OfferRow
from market.store.models.order import (
    DispatchAck,
    DispatchAckCreate,
    DispatchAckPublic,
    DispatchAckResult,
    DispatchStatus,
    DispatchStatusCreate,
    DispatchStatusPublic,
    OrderRow,
)
from market.store.models.participant import Participant, ParticipantCreate, ParticipantPublic
from market.store.models.prognosis import PrognosisPublic, PrognosisRow
from market.store.models.readings_digest import (
    ReadingsDigestRow,
    ReadingsDigestsAccepted,
    ReadingsDigestsCreate,
)
from market.store.models.relay import CommitmentCreate, CommitmentPublic, RelayCommitment
from market.store.models.request_draft import (
    RequestDraft,
    RequestDraftCreate,
    RequestDraftDecision,
    RequestDraftDecisionCreate,
    RequestDraftPublic,
)
from market.store.models.settlement import Settlement, SettlementPublic
from market.store.models.signed_message import MessagePublic
from market.store.models.station_status import (
    StationStatus,
    StationStatusAccepted,
    StationStatusCreate,
    StationStatusItem,
    StationStatusPublic,
)
from market.store.models.uftp_proof import UftpOfferProof

__all__ = [
    "MARKET_WIDE",
    "Asset",
    "AssetCreate",
    "AssetPublic",
    "AuthNonce",
    "BundleRecord",
    "ChainNonce",
    "CommitmentCreate",
    "CommitmentPublic",
    "CongestionPoint",
    "CongestionPointCreate",
    "CongestionPointPublic",
    "DispatchAck",
    "DispatchAckCreate",
    "DispatchAckPublic",
    "DispatchAckResult",
    "DispatchStatus",
    "DispatchStatusCreate",
    "DispatchStatusPublic",
    "FlexRequestRow",
    "IndexerBlock",
    "IndexerCursor",
    "IndexerUndo",
    "LifecycleStep",
    "MarketEvent",
    "MarketSession",
    "MessageLog",
    "MessagePublic",
    "MeterEvent",
    "MeterReading",
    "MeterReadingCreate",
    "MeterReadingPublic",
    "OfferPublic",
    "OfferReceipt",
    "OfferReceiptPublic",
    "OfferRow",
    "OrderRow",
    "Participant",
    "ParticipantCreate",
    "ParticipantPublic",
    "PrognosisPublic",
    "PrognosisRow",
    "ReadingsDigestRow",
    "ReadingsDigestsAccepted",
    "ReadingsDigestsCreate",
    "RelayCommitment",
    "RequestDraft",
    "RequestDraftCreate",
    "RequestDraftDecision",
    "RequestDraftDecisionCreate",
    "RequestDraftPublic",
    "RequestPublic",
    "RevokedToken",
    "SessionCreate",
    "SessionPublic",
    "Settlement",
    "SettlementPublic",
    "StationStatus",
    "StationStatusAccepted",
    "StationStatusCreate",
    "StationStatusItem",
    "StationStatusPublic",
    "UftpOfferProof",
    "WorkerLock",
    "add_event",
    "event_values",
]
