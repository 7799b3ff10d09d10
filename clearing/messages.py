"""UFTP-shaped market messages as immutable, integer-only pydantic models.

Field names follow USEF / Shapeshifter UFTP so a UFTP adapter maps them one to one.  Power values
are positive magnitudes in the message's direction (UP = less consumption / more injection,
DOWN = more consumption).  Ids are canonical lowercase UUID strings; addresses are 0x-hex,
stored lowercase.  ``to_canonical()`` gives the bytes that are hashed and signed.

Models check what a single message can check on its own (types, ranges, min <= max, duplicate
ISPs within the message); cross-message rules (unknown congestion point, ISP outside the session,
duplicate ids, ...) live in :mod:`clearing.validation`.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from clearing.encoding import canonical_json, keccak256
from clearing.units import MAX_BUDGET_UNITS, MAX_ISP_COUNT, MAX_POWER_W, MAX_PRICE_PER_MWH, PPM

__all__ = [
    "BaselineIsp",
    "DPrognosis",
    "Direction",
    "Disposition",
    "FlexOffer",
    "FlexOfferOption",
    "FlexOrder",
    "FlexRequest",
    "IspPower",
    "RequestIsp",
]

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _canonical_uuid(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("must be a UUID string") from exc
    if str(parsed) != value:
        raise ValueError(f"must be the canonical lowercase hyphenated form {parsed}")
    return value


def _address(value: str) -> str:
    if not _ADDRESS_RE.match(value):
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    return value.lower()


UuidStr = Annotated[StrictStr, AfterValidator(_canonical_uuid)]
Address = Annotated[StrictStr, AfterValidator(_address)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Direction = Literal["UP", "DOWN"]
Disposition = Literal["Requested", "Available"]
IspIndex = Annotated[StrictInt, Field(ge=0, lt=MAX_ISP_COUNT)]
PowerW = Annotated[StrictInt, Field(ge=0, le=MAX_POWER_W)]
PositivePowerW = Annotated[StrictInt, Field(gt=0, le=MAX_POWER_W)]
PricePerMwh = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE_PER_MWH)]
UnixSeconds = Annotated[StrictInt, Field(ge=0, lt=2**40)]
Ppm = Annotated[StrictInt, Field(ge=1, le=PPM)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_canonical(self) -> bytes:
        """Canonical JSON bytes (sorted keys, integers only) of this message."""
        return canonical_json(self.model_dump(mode="python"))

    def canonical_hash(self) -> bytes:
        """keccak256 of :meth:`to_canonical`."""
        return keccak256(self.to_canonical())


def _no_duplicate_isps(isps: tuple[RequestIsp, ...] | tuple[IspPower, ...], what: str) -> None:
    seen: set[int] = set()
    for item in isps:
        if item.isp_index in seen:
            raise ValueError(f"{what}: isp_index {item.isp_index} appears twice")
        seen.add(item.isp_index)


class RequestIsp(_Message):
    """One ISP of a FlexRequest: ``Requested`` carries the wanted power range."""

    isp_index: IspIndex
    disposition: Disposition
    min_power_w: PowerW
    max_power_w: PowerW

    @model_validator(mode="after")
    def _min_le_max(self) -> Self:
        if self.min_power_w > self.max_power_w:
            raise ValueError(f"min_power_w {self.min_power_w} > max_power_w {self.max_power_w}")
        return self


class IspPower(_Message):
    """A power magnitude (W) in one ISP."""

    isp_index: IspIndex
    power_w: PowerW


class FlexRequest(_Message):
    """The DSO's request for flexibility at one congestion point in one direction."""

    request_id: UuidStr
    session_id: UuidStr
    congestion_point: Code
    direction: Direction
    revision: Annotated[StrictInt, Field(ge=0)]
    expires_at: UnixSeconds
    max_price_per_mwh: PricePerMwh
    budget_units: Annotated[StrictInt, Field(ge=0, le=MAX_BUDGET_UNITS)]
    all_or_nothing: StrictBool
    isps: tuple[RequestIsp, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_isps(self) -> Self:
        _no_duplicate_isps(self.isps, "isps")
        return self


class BaselineIsp(_Message):
    """Baseline net power (W) in one ISP; may be negative (net injection)."""

    isp_index: IspIndex
    power_w: Annotated[StrictInt, Field(ge=-MAX_POWER_W, le=MAX_POWER_W)]


class DPrognosis(_Message):
    """An FSP's per-ISP baseline (signed net power, W) for its portfolio at a congestion point."""

    prognosis_id: UuidStr
    session_id: UuidStr
    fsp: Address
    congestion_point: Code
    isps: tuple[BaselineIsp, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_isps(self) -> Self:
        seen: set[int] = set()
        for item in self.isps:
            if item.isp_index in seen:
                raise ValueError(f"isps: isp_index {item.isp_index} appears twice")
            seen.add(item.isp_index)
        return self


class FlexOfferOption(_Message):
    """One mutually exclusive option: a block activated whole with one factor in [min, 1]."""

    option_ref: Code
    isps: tuple[IspPower, ...] = Field(min_length=1)
    price_per_mwh: PricePerMwh
    min_activation_ppm: Ppm
    rebound: tuple[IspPower, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        _no_duplicate_isps(self.isps, "isps")
        _no_duplicate_isps(self.rebound, "rebound")
        if all(i.power_w == 0 for i in self.isps):
            raise ValueError("isps: at least one ISP must have power_w > 0")
        return self


class FlexOffer(_Message):
    """An FSP's offer; ``request_id`` is None for an unsolicited offer."""

    offer_id: UuidStr
    session_id: UuidStr
    fsp: Address
    request_id: UuidStr | None = None
    congestion_point: Code
    direction: Direction
    baseline_ref: UuidStr | None = None
    expires_at: UnixSeconds
    options: tuple[FlexOfferOption, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_options(self) -> Self:
        refs = [o.option_ref for o in self.options]
        if len(set(refs)) != len(refs):
            raise ValueError("options: option_ref values must be unique within an offer")
        return self


class FlexOrder(_Message):
    """The award: an activated option of an offer, charged to one request's budget."""

    order_id: UuidStr
    session_id: UuidStr
    offer_id: UuidStr
    option_ref: Code
    fsp: Address
    request_id: UuidStr
    congestion_point: Code
    direction: Direction
    activation_ppm: Ppm
    isps: tuple[IspPower, ...]
    price_per_mwh: PricePerMwh
    payment_cap_units: Annotated[StrictInt, Field(ge=0)]
