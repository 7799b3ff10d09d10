"""Session input and result bundles: the published, hashed documents an auditor recomputes.

All fields are integers or strings (no floats), so ``canonical_json`` of ``model_dump()`` is the
exact byte string that is hashed.  ``mip_gap_ppm`` expresses the relative MIP gap in parts per
million (1000 = 0.1 %).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    StrictStr,
    model_serializer,
)

from clearing.encoding import canonical_json, keccak256, keccak256_of_parts
from clearing.messages import (
    Address,
    Code,
    Direction,
    DPrognosis,
    FlexOffer,
    FlexOrder,
    FlexRequest,
    PricePerMwh,
    UnixSeconds,
    UuidStr,
)
from clearing.terms import CongestionPoint, PricingRule, SessionTerms
from clearing.units import MAX_ISP_COUNT, PPM

__all__ = [
    "INPUT_BUNDLE_SCHEMA_PATH",
    "ClearingCertificate",
    "ClearingPrice",
    "CongestionPoint",
    "FspProofs",
    "InputBundle",
    "MarketRules",
    "OrderProof",
    "PaymentCap",
    "PricingRule",
    "Procurement",
    "ResultBundle",
    "SessionTerms",
    "SolverRun",
    "SolverSpec",
    "WorkLimits",
    "bundle_hash",
    "input_bundle_json_schema",
    "with_committed_terms",
]

INPUT_BUNDLE_SCHEMA_PATH = Path(__file__).with_name("input_bundle.schema.json")


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="python"))


class SolverSpec(_Doc):
    name: Literal["highs", "cbc"] = "highs"
    version: StrictStr = ""


class WorkLimits(_Doc):
    """The limits a HiGHS clearing ran under, recorded so an auditor recomputes under the same.

    The work limits (rounds, simplex iterations, branch-and-bound nodes, one thread, a fixed
    seed) make the orders a function of the input bundle alone; ``wall_clock_safety_s`` (the
    rules' ``time_limit_s``) is only a safety net: if it stops the solver first, the result is
    ``unproven`` and carries the greedy orders.  The work limits are constants of the code (a
    solver version's, like its version string), so the result records them; the committed
    session terms fix what an operator could choose: the MIP gap and ``time_limit_s``."""

    threads: StrictInt
    random_seed: StrictInt
    dive_rounds: StrictInt
    dive_lp_max_iterations: StrictInt
    rins_max_nodes: StrictInt
    mip_max_nodes: StrictInt
    # absent from results cleared before they were recorded: that code is revision 1
    wide_rins_gap_ppm: StrictInt = 500_000
    heuristics_revision: StrictInt = 1
    rc_neighbourhood_ppm: StrictInt = 0  # absent before revision 3: RINS widened along rows
    rc_neighbourhood_max_cols: StrictInt = 0
    wall_clock_safety_s: StrictInt


class SolverRun(SolverSpec):
    """The solver that actually cleared a session, as the result bundle records it.

    ``fallback_reason`` is present only when the result is not the rules' solver's own: HiGHS
    failed and CBC cleared instead, or the wall-clock safety net fired and the greedy orders
    were published (status ``unproven``).  ``limits`` are the HiGHS work limits (absent for
    CBC and for an empty session).  Absent fields are left out of the document."""

    fallback_reason: StrictStr | None = None
    limits: WorkLimits | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        for key in ("fallback_reason", "limits"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class MarketRules(_Doc):
    pricing_rule: PricingRule = "pay_as_bid"
    time_limit_s: Annotated[StrictInt, Field(ge=1, le=86_400)] = 60
    mip_gap_ppm: Annotated[StrictInt, Field(ge=0, le=PPM)] = 1_000
    solver: SolverSpec = SolverSpec()


class InputBundle(_Doc):
    """Everything the clearing reads. Same bytes in, same result bytes out.

    ``terms`` is the preimage of the session's on-chain ``termsHash`` (absent in bundles of
    sessions created without terms, and then left out of the document): the schedule, rules
    and grid fields here must equal it, which the auditor checks."""

    session_id: UuidStr
    isp_s: Annotated[StrictInt, Field(ge=60, le=86_400)] = 900
    isp_count: Annotated[StrictInt, Field(ge=1, le=MAX_ISP_COUNT)]
    start_time: UnixSeconds
    congestion_points: tuple[CongestionPoint, ...] = ()
    requests: tuple[FlexRequest, ...] = ()
    prognoses: tuple[DPrognosis, ...] = ()
    offers: tuple[FlexOffer, ...] = ()
    rules: MarketRules = MarketRules()
    terms: SessionTerms | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_terms(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        if data.get("terms") is None:
            data.pop("terms", None)
        return data


def with_committed_terms(bundle: InputBundle) -> InputBundle:
    """The bundle with every field its terms fix taken from the terms (schedule, pricing,
    solver, gap, time limit, grid): what clearing under the committed terms reads.  The
    solver version is not a term (it is recorded, not chosen), so it is kept."""
    t = bundle.terms
    if t is None:
        return bundle
    rules = MarketRules(
        pricing_rule=t.pricing_rule,
        time_limit_s=t.solver.time_limit_s,
        mip_gap_ppm=t.solver.mip_gap_ppm,
        solver=SolverSpec(name=t.solver.name, version=bundle.rules.solver.version),
    )
    return bundle.model_copy(
        update={
            "isp_s": t.isp_s,
            "isp_count": t.isp_count,
            "start_time": t.delivery_start,
            "congestion_points": t.congestion_points,
            "rules": rules,
        }
    )


class Procurement(_Doc):
    """Power procured for a request in one ISP (W at the request's congestion point)."""

    request_id: UuidStr
    isp_index: StrictInt
    procured_w: StrictInt


class ClearingPrice(_Doc):
    """Uniform price at a (congestion point, direction, ISP): highest accepted effective bid."""

    congestion_point: Code
    direction: Direction
    isp_index: StrictInt
    price_per_mwh: PricePerMwh


class PaymentCap(_Doc):
    """Sum of order payment caps per (request, FSP): the on-chain escrow reservation."""

    request_id: UuidStr
    fsp: Address
    payment_cap_units: StrictInt


class OrderProof(_Doc):
    order_id: UuidStr
    proof: tuple[StrictStr, ...]


class FspProofs(_Doc):
    fsp: Address
    orders: tuple[OrderProof, ...]


class ClearingCertificate(_Doc):
    """What the solver proved about its result, in token minor units of welfare.

    ``objective_units`` is the welfare of the published orders (value - cost); ``dual_bound_units``
    an upper bound on the welfare of any feasible clearing of the input, from the solver's dual
    bound rounded up (None when no solver bound exists: the greedy fallback).  An auditor does
    not trust the bound: it recomputes its own and accepts the orders only when their welfare is
    within the committed MIP gap of it."""

    objective_units: StrictInt
    dual_bound_units: StrictInt | None


class ResultBundle(_Doc):
    """The clearing outcome, with its own Merkle root over orders (one leaf per order).

    ``status``: ``optimal`` (the gap target is proven), ``work_limit`` (the deterministic work
    limits stopped HiGHS first: still a function of the input alone), ``unproven`` (the
    wall-clock safety net fired; the orders are the greedy baseline's), ``time_limit`` (CBC,
    which only has a wall-clock limit), ``empty`` (no offers, no solver ran)."""

    session_id: UuidStr
    input_hash: StrictStr
    pricing_rule: PricingRule
    solver: SolverRun
    status: Literal["optimal", "work_limit", "unproven", "time_limit", "empty"]
    mip_gap_ppm: StrictInt
    orders: tuple[FlexOrder, ...]
    procurement: tuple[Procurement, ...]
    prices: tuple[ClearingPrice, ...]
    payment_caps: tuple[PaymentCap, ...]
    value_units: StrictInt
    cost_units: StrictInt
    welfare_units: StrictInt
    orders_root: StrictStr
    fsp_proofs: tuple[FspProofs, ...]
    certificate: ClearingCertificate | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_certificate(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        if data.get("certificate") is None:
            data.pop("certificate", None)
        return data


def bundle_hash(bundle: InputBundle | ResultBundle) -> bytes:
    """keccak256 of the canonical JSON of a bundle (the value anchored on-chain)."""
    if isinstance(bundle, InputBundle):
        return _streamed_input_hash(bundle)
    return keccak256(bundle.to_canonical())


_STREAMED = ("congestion_points", "requests", "prognoses", "offers")


def _streamed_input_hash(bundle: InputBundle) -> bytes:
    """keccak256 of ``bundle.to_canonical()``, fed to the hash one offer (request, prognosis,
    point) at a time instead of dumping the whole bundle into one nested dict and one string.

    Why: at 100 000 offers that dump is ~300 MiB of short-lived dicts and text, and it was the
    clearing's peak memory (the result records this hash).  The bytes hashed are the same: a
    canonical JSON object is its keys in sorted order, and each list item's canonical JSON is
    the item's own (a test compares both hashes)."""
    head = bundle.model_dump(mode="python", exclude=set(_STREAMED))
    return keccak256_of_parts(_canonical_parts(bundle, head))


def _canonical_parts(bundle: InputBundle, head: dict[str, object]) -> Iterator[bytes]:
    """``bundle.to_canonical()`` in pieces: the keys in sorted order, each list item alone."""
    yield b"{"
    for n, key in enumerate(sorted({*head, *_STREAMED})):
        yield b'%s"%s":' % (b"," if n else b"", key.encode("ascii"))
        if key in head:
            yield canonical_json(head[key])
            continue
        items: tuple[CongestionPoint | FlexRequest | DPrognosis | FlexOffer, ...]
        items = getattr(bundle, key)
        yield b"["
        for i, item in enumerate(items):
            if i:
                yield b","
            yield item.to_canonical()
        yield b"]"
    yield b"}"


def input_bundle_json_schema() -> dict[str, object]:
    """JSON schema of the input bundle, published as ``input_bundle.schema.json`` beside this
    module (regenerate: ``json.dumps(input_bundle_json_schema(), indent=2, sort_keys=True)``;
    a test fails when the file is stale)."""
    return InputBundle.model_json_schema()
