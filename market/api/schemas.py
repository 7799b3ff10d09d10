"""Shapes that exist only on the wire: the signed envelope, sign-in, market info, problems.

Resource shapes (create bodies, public answers) live with their tables in market/store/models;
they are re-exported here for the API's clients, since the API imports the domain and never the
reverse.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from clearing.messages import Address
from market.auth.summary import MAX_SUMMARY_CHARS
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
from market.store.models.clearing_house import DisputeEvidence, UserContributions
from market.store.models.fields import MessageId

__all__ = [
    "AssetCreate",
    "CongestionPointCreate",
    "DispatchAckCreate",
    "DispatchStatusCreate",
    "DisputeEvidence",
    "Health",
    "MarketInfo",
    "MeterReadingCreate",
    "Nonce",
    "ParticipantCreate",
    "Problem",
    "RequestDraftCreate",
    "RequestDraftDecisionCreate",
    "SessionCreate",
    "Signed",
    "SiweRequest",
    "SiweToken",
    "StationStatusCreate",
    "UserContributions",
]

B = TypeVar("B")


class Signed(BaseModel, Generic[B]):
    """An EIP-712 signed envelope: see ``GET /market`` for the domain and types."""

    model_config = ConfigDict(extra="forbid")

    message_id: MessageId
    kind: Annotated[StrictStr, Field(max_length=32)]
    signer: Address
    expiry: Annotated[StrictInt, Field(ge=0, lt=2**64)]
    summary: Annotated[
        StrictStr,
        Field(
            max_length=MAX_SUMMARY_CHARS,
            description="What a wallet shows next to bodyHash: exactly the body's summary",
        ),
    ]
    body: B
    signature: Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]


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
    now: int = Field(
        description="The market's clock (Unix s): a page dates its SIWE message by it, not by "
        "the browser's clock (which may differ, e.g. on a test chain)"
    )


class MarketInfo(BaseModel):
    """Everything a client needs to sign: the EIP-712 domain and types, the SIWE domain."""

    chain_id: int
    market_address: str
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    siwe_domain: str
    siwe_uri: str
    max_message_ttl_s: int
    development_wallet: bool = Field(
        default=False,
        description="GET /dev-wallet serves a local chain's development keys (never in "
        "production); else a page needs an EIP-1193 wallet",
    )


class Problem(BaseModel):
    """RFC 9457 problem details, extended with the offending field path."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    """The liveness answer."""

    status: str
