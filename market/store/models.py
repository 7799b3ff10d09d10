"""Tables of the market store.

Integers for money (token minor units), power (W), energy (Wh) and time (Unix seconds).
Message bodies are kept as canonical JSON text next to the columns we query on, so the
bundles can be rebuilt byte-exact from the store.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _big(**kw: object) -> Column:
    return Column(BigInteger, **kw)  # type: ignore[arg-type]


class Participant(SQLModel, table=True):
    """A registered market party; ``roles`` mirrors the chain (comma-separated names)."""

    address: str = Field(primary_key=True, max_length=42)
    name: str = ""
    roles: str = ""
    eic_code: str | None = None
    ean_codes: str = ""
    created_at: int = Field(default=0, sa_column=_big(nullable=False))


class CongestionPoint(SQLModel, table=True):
    """A grid point that can be congested, nested in a hierarchy via ``parent_code``."""

    __tablename__ = "congestion_point"

    code: str = Field(primary_key=True, max_length=64)
    name: str = ""
    parent_code: str | None = Field(default=None, max_length=64)
    max_increase_w: int | None = Field(default=None, sa_column=_big(nullable=True))
    max_decrease_w: int | None = Field(default=None, sa_column=_big(nullable=True))
    sensitivity_ppm: int = 1_000_000


class Asset(SQLModel, table=True):
    """A charger EVSE (or other flexible asset) that an FSP controls at a congestion point."""

    id: str = Field(primary_key=True, max_length=36)
    congestion_point: str = Field(index=True, max_length=64)
    owner: str = Field(index=True, max_length=42)
    station_id: str = ""
    evse_id: int = 1
    max_import_w: int = Field(default=0, sa_column=_big(nullable=False))
    max_export_w: int = Field(default=0, sa_column=_big(nullable=False))
    meter_public_key: str | None = None


class MarketSession(SQLModel, table=True):
    """One market session; ``state`` follows the chain (OPEN .. FINAL)."""

    __tablename__ = "market_session"

    id: str = Field(primary_key=True, max_length=36)
    onchain_id: str = Field(index=True, max_length=66)
    state: str = "PENDING"
    gate_closure: int = Field(sa_column=_big(nullable=False))
    delivery_start: int = Field(sa_column=_big(nullable=False))
    delivery_end: int = Field(sa_column=_big(nullable=False))
    isp_s: int = 900
    challenge_window_s: int = 3600
    input_hash: str | None = None
    result_root: str | None = None
    delivery_root: str | None = None
    created_at: int = Field(default=0, sa_column=_big(nullable=False))


class FlexRequestRow(SQLModel, table=True):
    """A DSO's FlexRequest; its escrow lives on-chain under ``keccak256(id)``."""

    __tablename__ = "flex_request"

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    dso: str = Field(index=True, max_length=42)
    congestion_point: str = Field(max_length=64)
    direction: str = Field(default="UP", max_length=4)
    budget_units: int = Field(default=0, sa_column=_big(nullable=False))
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str = Field(max_length=66)
    message_id: str = Field(max_length=64)
    cancelled: bool = False


class PrognosisRow(SQLModel, table=True):
    """An FSP's D-prognosis (baseline) for its portfolio at a congestion point."""

    __tablename__ = "prognosis"

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    fsp: str = Field(index=True, max_length=42)
    congestion_point: str = Field(max_length=64)
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str = Field(max_length=66)
    message_id: str = Field(max_length=64)


class OfferRow(SQLModel, table=True):
    """An FSP's FlexOffer; private to the FSP and the operator until gate closure."""

    __tablename__ = "offer"

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    fsp: str = Field(index=True, max_length=42)
    congestion_point: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=36)
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str = Field(max_length=66)
    message_id: str = Field(max_length=64)
    created_at: int = Field(default=0, sa_column=_big(nullable=False))


class OfferReceipt(SQLModel, table=True):
    """Inclusion proof of one offer in its FSP's committed Merkle root (handed out at closure)."""

    __tablename__ = "offer_receipt"

    offer_id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    fsp: str = Field(index=True, max_length=42)
    root: str = Field(max_length=66)
    leaf_hash: str = Field(max_length=66)
    proof_json: str = Field(sa_column=Column(Text, nullable=False))
    included: bool = True


class OrderRow(SQLModel, table=True):
    """A FlexOrder (award) taken from the published result bundle."""

    __tablename__ = "flex_order"

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    offer_id: str = Field(max_length=36)
    fsp: str = Field(index=True, max_length=42)
    request_id: str | None = Field(default=None, max_length=36)
    body_json: str = Field(sa_column=Column(Text, nullable=False))


class DispatchStatus(SQLModel, table=True):
    """Last known dispatch state of an order at a station."""

    __tablename__ = "dispatch_status"
    __table_args__ = (UniqueConstraint("order_id", "station_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True, max_length=36)
    order_id: str = Field(max_length=36)
    station_id: str = ""
    state: str = "PENDING"
    detail: str = ""
    updated_at: int = Field(default=0, sa_column=_big(nullable=False))


class MeterReading(SQLModel, table=True):
    """A meter sample of one EVSE; same table as adapters/ocpp/sink.py writes (its sink plugs in).

    ``power_w`` is net import minus export (negative = discharge); registers are in Wh.
    """

    __tablename__ = "meter_readings"
    __table_args__ = (
        Index("ix_meter_readings_station_evse_ts", "station_id", "evse_id", "timestamp"),
    )

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=64)
    evse_id: int = 1
    timestamp: int = Field(sa_column=_big(nullable=False))
    import_wh: int = Field(sa_column=_big(nullable=False))
    export_wh: int = Field(sa_column=_big(nullable=False))
    power_w: int = Field(default=0, sa_column=_big(nullable=False))
    soc_pct: int | None = None
    signed_data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    public_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    protocol: str = Field(default="api", max_length=16)
    received_at: int = Field(default=0, sa_column=_big(nullable=False))


class MeterEvent(SQLModel, table=True):
    """An anomaly in a meter series (gap, register reset, late clock), kept beside readings."""

    __tablename__ = "meter_events"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    station_id: str = Field(max_length=64)
    evse_id: int = 1
    start_ts: int = Field(sa_column=_big(nullable=False))
    end_ts: int = Field(sa_column=_big(nullable=False))
    import_before_wh: int | None = Field(default=None, sa_column=_big(nullable=True))
    import_after_wh: int | None = Field(default=None, sa_column=_big(nullable=True))
    export_before_wh: int | None = Field(default=None, sa_column=_big(nullable=True))
    export_after_wh: int | None = Field(default=None, sa_column=_big(nullable=True))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class Settlement(SQLModel, table=True):
    """Per order: the verified payout (token minor units) once delivery is attested."""

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(index=True, max_length=36)
    order_id: str = Field(max_length=36)
    fsp: str = Field(index=True, max_length=42)
    payout_units: int = Field(default=0, sa_column=_big(nullable=False))
    body_json: str = Field(sa_column=Column(Text, nullable=False))


class MessageLog(SQLModel, table=True):
    """Every accepted signed message, for idempotent replays by message id."""

    __tablename__ = "message_log"

    message_id: str = Field(primary_key=True, max_length=64)
    signer: str = Field(max_length=42)
    kind: str = Field(max_length=32)
    body_hash: str = Field(max_length=66)
    status_code: int = 201
    response_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(default=0, sa_column=_big(nullable=False))


class LifecycleStep(SQLModel, table=True):
    """Progress of one worker step of one session; the row doubles as its lock."""

    __tablename__ = "lifecycle_step"

    session_id: str = Field(primary_key=True, max_length=36)
    step: str = Field(primary_key=True, max_length=32)
    status: str = "PENDING"
    worker_id: str = ""
    tx_hash: str | None = None
    detail: str = ""
    updated_at: int = Field(default=0, sa_column=_big(nullable=False))


class BundleRecord(SQLModel, table=True):
    """A published bundle: its keccak256 and the file it lives in (bytes kept too)."""

    __tablename__ = "bundle"

    session_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=16)
    keccak: str = Field(max_length=66)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IndexerCursor(SQLModel, table=True):
    """Last chain block the indexer has applied, per event stream."""

    __tablename__ = "indexer_cursor"

    name: str = Field(primary_key=True, max_length=32)
    block: int = Field(default=0, sa_column=_big(nullable=False))


class WorkerLock(SQLModel, table=True):
    """Lease rows so that only one worker performs a session step at a time."""

    __tablename__ = "worker_lock"

    name: str = Field(primary_key=True, max_length=80)
    holder: str = ""
    expires_at: float = 0.0
