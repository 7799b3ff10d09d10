"""The delivery report: its inputs, per order per ISP rows, payouts, refunds and Merkle tree.

The report is canonical JSON with one Merkle leaf per order (OpenZeppelin StandardMerkleTree):
``(bytes32 sessionId, bytes32 orderId, bytes32 requestId, address fsp, uint256 payoutUnits,
uint256 penaltyUnits, bytes32 detailHash, bytes32 evidenceHash)`` where ids are
``keccak256(uuid bytes)``, ``detailHash = keccak256(canonical_json(order settlement))`` and
``evidenceHash = keccak256(canonical_json(inputs))`` (signed readings, portfolios, prognoses,
reservations, budgets).  A session without orders has the all-zero root.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clearing.encoding import canonical_json, hex32, keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree
from clearing.messages import DPrognosis
from clearing.settlement.meter import Finding, MeterRef, SignedMeterReading
from clearing.settlement.rules import SettlementError, SettlementRules

__all__ = [
    "LEAF_ENCODING",
    "REPORT_VERSION",
    "ZERO_ROOT",
    "DeliveryInputs",
    "DeliveryOutcome",
    "DeliveryReport",
    "IspSettlement",
    "OrderSettlement",
    "PayoutLine",
    "Portfolio",
    "RefundLine",
    "RequestBudget",
    "Reservation",
    "order_leaf",
    "report_root",
]

REPORT_VERSION = 1
LEAF_ENCODING: tuple[str, ...] = (
    "bytes32",  # sessionId = keccak256(uuid bytes)
    "bytes32",  # orderId
    "bytes32",  # requestId
    "address",  # fsp
    "uint256",  # payoutUnits
    "uint256",  # penaltyUnits
    "bytes32",  # detailHash = keccak256(canonical_json(order settlement))
    "bytes32",  # evidenceHash = keccak256(canonical_json(inputs))
)
ZERO_ROOT = "0x" + "00" * 32

_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True)


class Portfolio(BaseModel):
    """The metered connectors behind an FSP's flexibility at one congestion point."""

    model_config = _FROZEN

    fsp: str = Field(min_length=1)
    congestion_point: str = Field(min_length=1)
    meters: tuple[MeterRef, ...] = Field(min_length=1)


class Reservation(BaseModel):
    """On-chain reservation per (request, FSP): the most that pair can be paid."""

    model_config = _FROZEN

    request_id: str
    fsp: str
    reserved_units: int = Field(ge=0)


class RequestBudget(BaseModel):
    """A request's escrowed budget; whatever is not paid out is refunded to the DSO."""

    model_config = _FROZEN

    request_id: str
    budget_units: int = Field(ge=0)


class ContractSetRef(BaseModel):
    """The root of the revenue-sharing contract set an FSP committed, folded into its
    portfolio hash (``clearing.commitments``): the preimage the auditor needs to check that
    hash; the netting bundle carries the contracts."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    fsp: str
    root: str = Field(pattern=r"^0x[0-9a-f]{64}$")


class DeliveryInputs(BaseModel):
    """Everything besides orders, rules and station keys that settles a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    session_start_ts: int = Field(ge=0, description="start of ISP index 0, Unix seconds")
    readings: tuple[SignedMeterReading, ...] = ()
    portfolios: tuple[Portfolio, ...] = ()
    prognoses: tuple[DPrognosis, ...] = ()
    reservations: tuple[Reservation, ...] = Field(description="in on-chain order")
    budgets: tuple[RequestBudget, ...]
    # one per committed FSP (absent: the empty set); not an input of the delivery figures
    contract_sets: tuple[ContractSetRef, ...] = ()

    def to_json_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="python")


class IspSettlement(BaseModel):
    """One ISP of one order, with UFTP FlexOrderSettlementISP fields (W)."""

    model_config = _FROZEN

    isp_index: int
    start_ts: int
    status: Literal["verified", "unverifiable"]
    baseline_w: int
    ordered_w: int
    actual_w: int
    delivered_w: int
    credited_w: int
    deficiency_w: int
    penalized_w: int


class OrderSettlement(BaseModel):
    """Settlement of one order: per ISP rows plus money in token units."""

    model_config = _FROZEN

    order_id: str
    request_id: str
    fsp: str
    congestion_point: str
    direction: Literal["UP", "DOWN"]
    baseline_method: str
    price_per_mwh: int
    payment_cap_units: int
    isps: tuple[IspSettlement, ...]
    ordered_value_units: int
    paid_units: int
    penalty_units: int
    net_units: int
    payout_units: int
    uncovered_penalty_units: int
    meters: tuple[dict[str, Any], ...] = Field(
        description="per connector {station, evse, import_wh, export_wh} over verified ISPs"
    )

    def detail_hash(self) -> bytes:
        return keccak256(canonical_json(self.model_dump(mode="python")))


class PayoutLine(BaseModel):
    """Payout per (request, FSP), aligned with the on-chain reservations."""

    model_config = _FROZEN

    request_id: str
    fsp: str
    reserved_units: int
    payout_units: int


class RefundLine(BaseModel):
    """What goes back to the DSO per request."""

    model_config = _FROZEN

    request_id: str
    budget_units: int
    payouts_units: int
    refund_units: int


class DeliveryReport(BaseModel):
    """The delivery report whose Merkle root is attested on-chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    session_id: str
    rules: SettlementRules
    leaf_encoding: tuple[str, ...]
    evidence_hash: str
    orders: tuple[OrderSettlement, ...]
    payouts: tuple[PayoutLine, ...]
    refunds: tuple[RefundLine, ...]
    findings: tuple[Finding, ...]
    root: str

    def to_json_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def to_canonical(self) -> bytes:
        return canonical_json(self.to_json_obj())

    def payout_vector(self) -> list[int]:
        """Payouts in on-chain reservation order, for ``attestDelivery``."""
        return [line.payout_units for line in self.payouts]


class DeliveryOutcome(BaseModel):
    """A computed report with its canonical bytes, the bundle bytes and the tree."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    report: DeliveryReport
    report_bytes: bytes
    bundle_bytes: bytes
    tree: StandardMerkleTree | None

    def proof(self, order_id: str) -> list[str]:
        """Merkle proof (hex) of an order's leaf."""
        if self.tree is None:
            raise SettlementError(f"order_id: {order_id} not in report (no orders)")
        for i, order in enumerate(self.report.orders):
            if order.order_id == order_id:
                return [hex32(p) for p in self.tree.proof(i)]
        raise SettlementError(f"order_id: {order_id} not in report")


def order_leaf(
    order: OrderSettlement, session_id: str, evidence_hash: bytes
) -> tuple[bytes, bytes, bytes, str, int, int, bytes, bytes]:
    """The Merkle leaf value of one order settlement (see :data:`LEAF_ENCODING`)."""
    return (
        uuid_to_bytes32(session_id),
        uuid_to_bytes32(order.order_id),
        uuid_to_bytes32(order.request_id),
        order.fsp,
        order.payout_units,
        order.penalty_units,
        order.detail_hash(),
        evidence_hash,
    )


def report_root(report: Mapping[str, Any]) -> str:
    """Recompute the Merkle root from a report's order rows (no meter re-verification)."""
    parsed = DeliveryReport.model_validate_json(canonical_json(dict(report)))
    if not parsed.orders:
        return ZERO_ROOT
    evidence = bytes.fromhex(parsed.evidence_hash.removeprefix("0x"))
    tree = StandardMerkleTree.of(
        [order_leaf(o, parsed.session_id, evidence) for o in parsed.orders], LEAF_ENCODING
    )
    return hex32(tree.root)
