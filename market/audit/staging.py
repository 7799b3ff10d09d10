"""Stage one complete session on a chain the way an honest operator would, for the benchmark
and the tests: escrow, offer commitments, clearing, simulated metered delivery with signed
readings, attestation and finalization, with the bundles written as the service publishes them.

``Tamper`` hooks let a test play a dishonest operator at each step (the auditor must then name
what went wrong); without hooks the session is honest and its audit must pass.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from eth_account import Account
from eth_utils.address import to_checksum_address

from adapters.chain.anvil import AnvilControl
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.token import SettlementTokenContract
from adapters.chain.types import Reservation
from clearing.bundle import InputBundle, ResultBundle, SolverSpec
from clearing.commitments import OFFER_LEAF_ENCODING, offer_leaf
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.engine import clear
from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOffer, FlexOrder
from clearing.readings_digest import Domain, ReadingsDigest, cpo_digests, readings_bundle
from clearing.settlement.delivery import (
    DeliveryInputs,
    DeliveryOutcome,
    Portfolio,
    RequestBudget,
    compute_delivery,
    required_reading_window,
)
from clearing.settlement.delivery import Reservation as DeliveryReservation
from clearing.settlement.meter import MeterRef, SignedMeterReading, sign_reading
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms, SolverTerms
from clearing.trust import secp256k1_key
from market.participant.onchain import ChainAccount

BASE_LOAD_W = 200_000
SHORT_DELIVERY_PPM = 800_000  # every third portfolio delivers 80 %: payouts below their caps


class StationAsset(TypedDict):
    """One entry of the published station registry (``stations.json``)."""

    station_id: str
    evse_id: int
    owner: str
    congestion_point: str
    meter_public_key: str


class OfferReceipt(TypedDict):
    """An FSP's inclusion proof for one committed offer (hex strings)."""

    offer_id: str
    root: str
    leaf_hash: str
    proof: list[str]


class FspReceipts(TypedDict):
    """The ``--receipts`` file an FSP hands the auditor: its proofs plus its own offers."""

    session_id: str
    fsp: str
    receipts: list[OfferReceipt]
    offers: list[dict[str, Any]]


@dataclass
class Actors:
    """Addresses (keys held by the client) playing each part."""

    operator: str
    dso: str
    oracle: str
    fsps: Sequence[str]
    # CPO_ROLE: registers each station's meter key on-chain before gate closure and grants
    # the station to its FSP (None: no station is registered; the auditor then says so).
    cpo: str | None = None
    # The CPO's private key: it signs the readings digests of sessions that require them.
    cpo_key: str | None = None


@dataclass
class Tamper:
    """Dishonest-operator hooks, each optional, applied before the matching on-chain step."""

    input_bundle: Callable[[InputBundle], InputBundle] | None = None
    result: Callable[[ResultBundle], ResultBundle] | None = None
    readings: Callable[[list[SignedMeterReading]], list[SignedMeterReading]] | None = None
    # What the meters sent by attestation time, before anyone saw it (an honest outage: the
    # CPO never received the rest either, so its digests match); ``readings`` then tampers.
    sent: Callable[[list[SignedMeterReading]], list[SignedMeterReading]] | None = None
    payouts: Callable[[list[int], list[int]], list[int]] | None = None  # (payouts, reserved)
    before_finalize: Callable[[StagedSession], None] | None = None
    # What the operator commits at creation (preimage and hash stay consistent).
    terms: Callable[[SessionTerms], SessionTerms] | None = None
    # The settlement rules the oracle uses at attestation (default: the committed ones).
    settlement_rules: Callable[[SettlementRules], SettlementRules] | None = None
    # The delivery inputs the oracle verifies (prognoses, portfolios) after the FSPs committed.
    delivery_inputs: Callable[[DeliveryInputs], DeliveryInputs] | None = None
    # station -> the private key the operator signs that station's readings with and whose
    # address it publishes in stations.json (default: the station's own key, the CPO's).
    meter_key: Callable[[str], str] | None = None
    # The CPO-signed readings digests the oracle publishes and commits (under terms requiring
    # them); the readings hook above then changes the reading set behind the CPO's back.
    digests: Callable[[list[ReadingsDigest]], list[ReadingsDigest]] | None = None
    commit_readings: bool = True  # False: attest without committing the digests' root


@dataclass
class StagedSession:
    session_id: str
    onchain_id: bytes
    folder: Path
    input: InputBundle
    result: ResultBundle
    delivery: DeliveryOutcome | None
    terms: SessionTerms | None = None
    committed: dict[str, list[str]] = field(default_factory=dict)  # fsp -> committed offer ids
    offers_by_fsp: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def path(self, kind: str) -> Path:
        return self.folder / self.session_id / f"{kind}.json"

    def receipts(self, fsp: str) -> FspReceipts:
        """What the FSP holds after gate closure: its inclusion proofs (plus its own offers)."""
        fsp = fsp.lower()
        offers = self.offers_by_fsp[fsp]
        leaves = [offer_leaf(o["offer_id"], _canonical(o)) for o in offers]
        tree = StandardMerkleTree.of(leaves, OFFER_LEAF_ENCODING)
        return {
            "session_id": self.session_id,
            "fsp": fsp,
            "receipts": [
                {
                    "offer_id": o["offer_id"],
                    "root": hex32(tree.root),
                    "leaf_hash": hex32(tree.leaf_hash(tree.values[i])),
                    "proof": [hex32(p) for p in tree.proof(i)],
                }
                for i, o in enumerate(offers)
            ],
            "offers": offers,
        }


def _canonical(obj: dict[str, Any]) -> bytes:
    from clearing.trust import canonical_json

    return canonical_json(obj)


def station_key(station: str) -> str:
    """Deterministic secp256k1 key of a simulated station (test and benchmark data only)."""
    return "0x" + keccak256(b"flexmarket-audit-station:" + station.encode()).hex()


def station_of(fsp: str, congestion_point: str) -> str:
    return f"ST-{fsp.lower()[2:10]}-{congestion_point}"


def stage_session(
    *,
    market: FlexMarketContract,
    token: SettlementTokenContract,
    control: AnvilControl,
    actors: Actors,
    bundle: InputBundle,
    folder: Path,
    tamper: Tamper | None = None,
    challenge_window_s: int = 600,
    deliver: bool = True,
    finalize: bool = True,
    rules: SettlementRules | None = None,
    readings_digests: bool = True,
) -> StagedSession:
    """Run ``bundle`` through the whole lifecycle on-chain; write the bundles under ``folder``."""
    import time

    from clearing.solvers.highs_api import highs_version

    tamper = tamper or Tamper()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    isp_s = bundle.isp_s
    now = control.mine()  # the time the next transactions see, even after a revert
    gate = now + 600
    start = gate + isp_s
    end = start + bundle.isp_count * isp_s
    bundle = bundle.model_copy(
        update={
            "start_time": start,
            "rules": bundle.rules.model_copy(
                update={"solver": SolverSpec(name="highs", version=highs_version())}
            ),
        }
    )
    sid = bundle.session_id
    onchain = uuid_to_bytes32(sid)
    rules = rules or SettlementRules(isp_s=isp_s, baseline_method="meter_before")
    terms = SessionTerms(
        session_id=sid,
        gate_closure=gate,
        delivery_start=start,
        delivery_end=end,
        isp_s=isp_s,
        challenge_window_s=challenge_window_s,
        meter_grace_s=0,
        pricing_rule=bundle.rules.pricing_rule,
        solver=SolverTerms(
            name=bundle.rules.solver.name,
            mip_gap_ppm=bundle.rules.mip_gap_ppm,
            time_limit_s=bundle.rules.time_limit_s,
        ),
        congestion_points=bundle.congestion_points,
        settlement=rules,
        readings_digests_required=readings_digests,
    )
    if tamper.terms:
        terms = tamper.terms(terms)
    bundle = bundle.model_copy(update={"terms": terms})
    market.create_session(
        onchain,
        gate,
        start,
        end,
        isp_s,
        challenge_window_s,
        terms.terms_hash(),
        sender=actors.operator,
    )
    dso = ChainAccount(market, token, actors.dso)  # the participants' steps, as anyone's
    dso.approve(sum(r.budget_units for r in bundle.requests))
    for req in bundle.requests:
        dso.escrow_request(req)
    by_fsp: dict[str, list[FlexOffer]] = defaultdict(list)
    for offer in bundle.offers:
        by_fsp[offer.fsp.lower()].append(offer)
    committed_portfolios = offered_portfolios(bundle.offers)
    for fsp, offers in sorted(by_fsp.items()):
        ChainAccount(market, token, to_checksum_address(fsp)).commit_offers(
            sid, offers, bundle.prognoses, committed_portfolios
        )
    seconds["open_s"] = time.perf_counter() - t0

    if actors.cpo is not None:
        cpo = ChainAccount(market, token, actors.cpo)
        for fsp, cp in sorted({(f, o.congestion_point) for f, fo in by_fsp.items() for o in fo}):
            station = station_of(fsp, cp)
            cpo.register_station(station, Account.from_key(station_key(station)).address)
            cpo.grant_station(station, to_checksum_address(fsp))
    control.warp_to(gate)
    market.close_session(onchain, sender=actors.operator)
    t1 = time.perf_counter()
    if tamper.input_bundle:
        bundle = tamper.input_bundle(bundle)
    result = clear(bundle)
    if tamper.result:
        result = tamper.result(result)
    seconds["clear_s"] = time.perf_counter() - t1
    input_bytes, result_bytes = bundle.to_canonical(), result.to_canonical()
    reservations = [
        Reservation(uuid_to_bytes32(c.request_id), to_checksum_address(c.fsp), c.payment_cap_units)
        for c in result.payment_caps
        if c.payment_cap_units > 0
    ]
    root = bytes.fromhex(result.orders_root[2:]) or bytes(32)
    market.post_clearing(
        onchain, keccak256(input_bytes), root, reservations, sender=actors.operator
    )
    _write(folder / sid / "terms.json", terms.to_canonical())
    _write(folder / sid / "input.json", input_bytes)
    _write(folder / sid / "result.json", result_bytes)
    staged = StagedSession(
        session_id=sid,
        onchain_id=onchain,
        folder=folder,
        input=bundle,
        result=result,
        delivery=None,
        terms=terms,
        committed={f: [o.offer_id for o in offers] for f, offers in by_fsp.items()},
        offers_by_fsp={
            f: [o.model_dump(mode="python") for o in offers] for f, offers in by_fsp.items()
        },
        seconds=seconds,
    )
    if not deliver:
        return staged

    t2 = time.perf_counter()
    if tamper.settlement_rules:
        rules = tamper.settlement_rules(rules)
    readings, _, registry = simulate_delivery(
        result.orders, start, isp_s, rules, key_of=tamper.meter_key or station_key
    )
    registry = _with_unordered_stations(registry, committed_portfolios)
    if tamper.sent:
        readings = tamper.sent(readings)
    domain = (market.client.chain_id, market.address)
    digests = _cpo_digests(actors, terms, readings, registry, domain) if readings_digests else None
    if tamper.readings:
        readings = tamper.readings(readings)
    inputs = DeliveryInputs(
        session_id=sid,
        session_start_ts=start,
        readings=tuple(readings),
        portfolios=tuple(committed_portfolios),
        prognoses=tuple(bundle.prognoses),
        reservations=tuple(
            DeliveryReservation(
                request_id=c.request_id, fsp=c.fsp.lower(), reserved_units=c.payment_cap_units
            )
            for c in result.payment_caps
            if c.payment_cap_units > 0
        ),
        budgets=tuple(
            RequestBudget(request_id=r.request_id, budget_units=r.budget_units)
            for r in bundle.requests
        ),
    )
    if tamper.delivery_inputs:
        inputs = tamper.delivery_inputs(inputs)
    keys = {a["station_id"]: a["meter_public_key"] for a in registry}
    outcome = compute_delivery(inputs, list(result.orders), rules, keys)
    staged.delivery = outcome
    seconds["delivery_s"] = time.perf_counter() - t2
    payouts = outcome.report.payout_vector()
    if tamper.payouts:
        payouts = tamper.payouts(payouts, [line.reserved_units for line in outcome.report.payouts])
    control.warp_to(end)
    if digests is not None:
        signed = tamper.digests(digests) if tamper.digests else digests
        published = readings_bundle(sid, signed)
        root = bytes.fromhex(published.root[2:])
        if tamper.commit_readings:
            market.commit_readings_digests(onchain, root, sender=actors.oracle)
        _write(folder / sid / "readings.json", published.to_canonical())
    market.attest_delivery(
        onchain, bytes.fromhex(outcome.report.root[2:]), payouts, sender=actors.oracle
    )
    _write(folder / sid / "delivery.json", outcome.bundle_bytes)
    _merge_registry(folder / "stations.json", registry)
    if not finalize:
        return staged
    info = market.session(onchain)
    control.warp_to(info.challenge_deadline)
    if tamper.before_finalize:
        tamper.before_finalize(staged)
    market.finalize(onchain, sender=actors.operator)
    seconds["total_s"] = time.perf_counter() - t0
    return staged


def _cpo_digests(
    actors: Actors,
    terms: SessionTerms,
    readings: list[SignedMeterReading],
    registry: list[StationAsset],
    domain: Domain,
) -> list[ReadingsDigest]:
    """The CPO's signed digests of every registered station, over the readings it received."""
    if actors.cpo_key is None:
        raise ValueError("actors.cpo_key: the CPO signs the readings digests these terms require")
    return cpo_digests(
        session_id=terms.session_id,
        readings=readings,
        stations={a["station_id"] for a in registry},
        window=required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end),
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        key=secp256k1_key(actors.cpo_key),
        domain=domain,
    )


def offered_portfolios(offers: Sequence[FlexOffer]) -> list[Portfolio]:
    """What each FSP commits as its portfolio: one metered station per congestion point it
    offers at (the station ``simulate_delivery`` reads when it gets orders there)."""
    keys = sorted({(o.fsp.lower(), o.congestion_point) for o in offers})
    return [
        Portfolio(
            fsp=fsp, congestion_point=cp, meters=(MeterRef(station=station_of(fsp, cp), evse=1),)
        )
        for fsp, cp in keys
    ]


def _with_unordered_stations(
    registry: list[StationAsset], portfolios: Sequence[Portfolio]
) -> list[StationAsset]:
    """The registry plus the committed stations that got no orders (registered all the same)."""
    known = {a["station_id"] for a in registry}
    extra: list[StationAsset] = [
        {
            "station_id": m.station,
            "evse_id": m.evse,
            "owner": p.fsp,
            "congestion_point": p.congestion_point,
            "meter_public_key": Account.from_key(station_key(m.station)).address.lower(),
        }
        for p in portfolios
        for m in p.meters
        if m.station not in known
    ]
    return registry + extra


def simulate_delivery(
    orders: Sequence[FlexOrder],
    start: int,
    isp_s: int,
    rules: SettlementRules,
    *,
    key_of: Callable[[str], str] = station_key,
) -> tuple[list[SignedMeterReading], list[Portfolio], list[StationAsset]]:
    """One metered station per (FSP, congestion point): a base load that moves by the ordered
    power in each ordered ISP (UP = less consumption), read and signed at every ISP boundary
    from the baseline window before the first order to one ISP after the last."""
    groups: dict[tuple[str, str], list[FlexOrder]] = defaultdict(list)
    for o in orders:
        groups[(o.fsp.lower(), o.congestion_point)].append(o)
    readings: list[SignedMeterReading] = []
    portfolios: list[Portfolio] = []
    registry: list[StationAsset] = []
    for n, key in enumerate(sorted(groups)):
        fsp, cp = key
        station = station_of(fsp, cp)
        private = key_of(station)
        registry.append(
            {
                "station_id": station,
                "evse_id": 1,
                "owner": fsp,
                "congestion_point": cp,
                "meter_public_key": Account.from_key(private).address.lower(),
            }
        )
        portfolios.append(
            Portfolio(fsp=fsp, congestion_point=cp, meters=(MeterRef(station=station, evse=1),))
        )
        factor = SHORT_DELIVERY_PPM if n % 3 == 2 else 1_000_000
        delta: dict[int, int] = defaultdict(int)
        for o in groups[key]:
            sign = -1 if o.direction == "UP" else 1
            for isp in o.isps:
                delta[isp.isp_index] += sign * isp.power_w * factor // 1_000_000
        first, last = min(delta), max(delta)
        lookback = -(-(rules.meter_before_window_s + rules.max_gap_s) // isp_s)
        imp_ws = exp_ws = 0
        for k in range(first - lookback, last + 2):
            ts = start + k * isp_s
            readings.append(
                sign_reading(
                    private,
                    station=station,
                    evse=1,
                    timestamp=ts,
                    import_wh=10_000_000 + imp_ws // 3600,
                    export_wh=1_000_000 + exp_ws // 3600,
                )
            )
            power_w = BASE_LOAD_W + delta.get(k, 0)  # negative = net export (discharge)
            imp_ws += max(power_w, 0) * isp_s
            exp_ws += max(-power_w, 0) * isp_s
    readings.sort(key=lambda r: (r.station, r.evse, r.timestamp))
    return readings, portfolios, registry


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _merge_registry(path: Path, assets: list[StationAsset]) -> None:
    existing = json.loads(path.read_text()) if path.is_file() else []
    known = {a["station_id"] for a in existing}
    merged = existing + [a for a in assets if a["station_id"] not in known]
    _write(path, json.dumps(merged, indent=1, sort_keys=True).encode())
