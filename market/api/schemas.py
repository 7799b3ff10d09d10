"""Wire models of the API that are not clearing messages (those come from clearing.messages)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    model_validator,
)

from clearing.messages import Address, Code, UuidStr
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.revenue import UserContribution
from clearing.units import MAX_POWER_W

Unix = Annotated[StrictInt, Field(ge=0, lt=2**40)]
Watts = Annotated[StrictInt, Field(ge=0, le=MAX_POWER_W)]
Wh = Annotated[StrictInt, Field(ge=0, lt=2**62)]
MessageId = Annotated[StrictStr, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Hex = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SessionCreate(_Body):
    """A market session; the worker creates it on-chain and keeps it in step."""

    session_id: UuidStr
    gate_closure: Unix
    delivery_start: Unix
    delivery_end: Unix
    isp_s: Annotated[StrictInt, Field(ge=60, le=3600)] = 900
    challenge_window_s: Annotated[StrictInt, Field(ge=0, le=30 * 86400)] = 3600

    @model_validator(mode="after")
    def _order(self) -> Self:
        if not self.gate_closure <= self.delivery_start < self.delivery_end:
            raise ValueError("need gate_closure <= delivery_start < delivery_end")
        if (self.delivery_end - self.delivery_start) % self.isp_s:
            raise ValueError("delivery window must be a whole number of ISPs")
        return self


class ParticipantCreate(_Body):
    """Self-description of a participant whose roles the chain already holds."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    eic_code: Annotated[StrictStr, Field(max_length=32)] | None = None
    ean_codes: Annotated[list[Code], Field(max_length=100)] = []


class CongestionPointCreate(_Body):
    """A congestion point, optionally nested under a parent point."""

    code: Code
    name: Annotated[StrictStr, Field(max_length=200)] = ""
    parent_code: Code | None = None
    max_increase_w: Watts | None = None
    max_decrease_w: Watts | None = None
    sensitivity_ppm: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1_000_000


class AssetCreate(_Body):
    """A charger EVSE controlled by the signing FSP."""

    asset_id: UuidStr
    congestion_point: Code
    station_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    evse_id: Annotated[StrictInt, Field(ge=0, le=1000)] = 1
    max_import_w: Watts
    max_export_w: Watts
    meter_public_key: Hex | None = None


class MeterReadingCreate(_Body):
    """One meter sample (Wh registers, net power W) of a station EVSE, as a meter oracle saw it."""

    station_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    evse_id: Annotated[StrictInt, Field(ge=0, le=1000)] = 1
    timestamp: Unix
    import_wh: Wh
    export_wh: Wh
    power_w: Annotated[StrictInt, Field(ge=-MAX_POWER_W, le=MAX_POWER_W)] = 0
    soc_pct: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    signed_data: Annotated[StrictStr, Field(max_length=4000)] | None = None
    signature: Hex | None = None
    public_key: Hex | None = None


class DispatchStatusCreate(_Body):
    """Dispatch progress of one order at one station."""

    session_id: UuidStr
    order_id: UuidStr
    station_id: Annotated[StrictStr, Field(max_length=64)] = ""
    state: Literal["PENDING", "SENT", "ACCEPTED", "REJECTED", "DELIVERING", "DONE", "FAILED"]
    detail: Annotated[StrictStr, Field(max_length=500)] = ""


B = TypeVar("B")


class Signed(BaseModel, Generic[B]):
    """An EIP-712 signed envelope: see ``GET /market`` for the domain and types."""

    model_config = ConfigDict(extra="forbid")

    message_id: MessageId
    kind: Annotated[StrictStr, Field(max_length=32)]
    signer: Address
    expiry: Annotated[StrictInt, Field(ge=0, lt=2**64)]
    body: B
    signature: Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]


class SignedResult(BaseModel):
    """What a write returns: the stored body, its hash and who submitted it."""

    body: dict[str, Any]
    body_hash: str | None = None
    submitter: str | None = None


class SiweRequest(BaseModel):
    """A signed EIP-4361 message."""

    model_config = ConfigDict(extra="forbid")

    message: Annotated[StrictStr, Field(max_length=4000)]
    signature: Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]


class SiweToken(BaseModel):
    token: str
    address: str
    expires_at: int


class Nonce(BaseModel):
    nonce: str


class MarketInfo(BaseModel):
    """Everything a client needs to sign: the EIP-712 domain and types, the SIWE domain."""

    chain_id: int
    market_address: str
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    siwe_domain: str
    siwe_uri: str
    max_message_ttl_s: int


class Problem(BaseModel):
    """RFC 9457 problem details, extended with the offending field path."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


# ---- settlement: disputes and the clearing house -----------------------------------------


class DisputeEvidence(BaseModel):
    """A disputing party's evidence: its own signed meter readings for the session."""

    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[StrictStr, Field(max_length=36)]
    reason: Annotated[StrictStr, Field(max_length=2000)] = ""
    readings: Annotated[list[SignedMeterReading], Field(max_length=10_000)]


class UserContributions(BaseModel):
    """An FSP's per-user flexible energy in a session (the basis of user incentives)."""

    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[StrictStr, Field(max_length=36)]
    contributions: Annotated[list[UserContribution], Field(max_length=10_000)]
