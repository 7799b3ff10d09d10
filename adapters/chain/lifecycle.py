"""One complete market session on-chain, driven through the typed wrappers.

Used by ``flexmarket demo`` (two FSPs, one request), ``flexmarket bench gas`` (many FSPs,
requests and orders) and the integration tests. Chain time is moved with anvil's time RPCs,
so a session of several hours runs in a second.

Offers stay off-chain: each FSP signs (EIP-712) the Merkle root (OpenZeppelin StandardMerkleTree,
``clearing.merkle``) and count of its offer set with the hash of its prognosis and portfolio,
and the operator relays the signed commitments in one transaction; clearing posts one
reservation per (request, FSP) pair, however many orders that pair holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from adapters.chain.anvil import AnvilControl
from adapters.chain.client import TxResult
from adapters.chain.deploy import MarketContracts
from adapters.chain.errors import ChainError
from adapters.chain.types import Reservation, SessionState
from clearing.commitments import offer_tree, portfolio_hash, prognosis_hash
from clearing.encoding import canonical_json, code_to_bytes32, keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms

# Leaf of an FSP's committed offer set: (offer id, hash of the canonical offer body).
ISP_SECONDS = 900


@dataclass(frozen=True)
class Step:
    """One transaction of the lifecycle, for printing and for gas accounting."""

    phase: str
    action: str
    actor: str
    gas_used: int
    tx_hash: str
    block_number: int
    detail: str = ""


@dataclass(frozen=True)
class Order:
    """An accepted offer: who delivers what for which request (off-chain detail)."""

    request_index: int
    fsp_index: int
    power_w: int
    price_per_mwh: int


@dataclass(frozen=True)
class LifecyclePlan:
    """Everything one session needs; amounts in token minor units, power in W."""

    budgets: Sequence[int]  # one request per entry, all posted by the DSO
    orders: Sequence[Order]
    reservations: Sequence[tuple[int, int, int]]  # (request index, fsp index, amount)
    payouts: Sequence[int]  # one per reservation, each <= its amount
    congestion_point: str = "EAN-871685900000000001"
    isp_count: int = 4
    challenge_window_s: int = 3600
    label: str = "session"


@dataclass
class Roles:
    """The accounts playing each part (addresses whose keys the client holds)."""

    admin: str
    operator: str
    dso: str
    fsps: list[str]
    oracle: str
    arbiter: str


@dataclass
class LifecycleReport:
    session_id: bytes
    steps: list[Step] = field(default_factory=list)
    offer_roots: dict[str, bytes] = field(default_factory=dict)

    def gas(self, phase: str | None = None) -> int:
        return sum(s.gas_used for s in self.steps if phase is None or s.phase == phase)

    def gas_by_action(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for s in self.steps:
            totals[s.action] = totals.get(s.action, 0) + s.gas_used
        return totals


def staircase_pairs(fsps: int, requests: int) -> list[tuple[int, int]]:
    """(request, fsp) pairs linking every FSP and every request with fsps + requests - 1 pairs.

    Why: with exactly one pair more per extra FSP and per extra request, the per-pair cost
    splits linearly into the per-FSP and per-request marginals, so a least-squares fit over
    the run grid identifies each of them.
    """
    if fsps < 1 or requests < 1:
        raise ValueError(f"fsps/requests: need at least one of each (got {fsps}, {requests})")
    pairs = [(0, f) for f in range(fsps)]
    pairs += [(r, fsps - 1) for r in range(1, requests)]
    return pairs


def make_plan(
    *, orders: int, fsps: int, requests: int, budget_per_request: int, label: str = "session"
) -> LifecyclePlan:
    """Spread ``orders`` over the staircase pairs; reserve and pay per pair."""
    pairs = staircase_pairs(fsps, requests)
    if orders < len(pairs):
        raise ValueError(
            f"orders: {orders} cannot cover {len(pairs)} (request, FSP) pairs "
            f"for {fsps} FSPs and {requests} requests"
        )
    order_list = [
        Order(
            request_index=pairs[i % len(pairs)][0],
            fsp_index=pairs[i % len(pairs)][1],
            power_w=5_000 + 100 * (i % 50),
            price_per_mwh=150_000_000 + 1_000 * (i % 97),
        )
        for i in range(orders)
    ]
    per_request = [sum(1 for r, _ in pairs if r == j) for j in range(requests)]
    reservations = []
    for r, f in pairs:
        amount = budget_per_request * 8 // 10 // per_request[r]  # 80 %: leaves a refund
        reservations.append((r, f, amount))
    payouts = [amount * 9 // 10 for _, _, amount in reservations]  # 90 % delivered
    return LifecyclePlan(
        budgets=[budget_per_request] * requests,
        orders=order_list,
        reservations=reservations,
        payouts=payouts,
        label=label,
    )


def offers_tree(
    session_id: bytes, request_ids: Sequence[bytes], fsp: str, orders: Sequence[Order]
) -> StandardMerkleTree:
    """The Merkle tree of one FSP's offers, leaves as the market service builds them.

    Leaf = (keccak256(offer uuid bytes), keccak256(canonical JSON of the offer body)), the
    construction of ``clearing.commitments``; offer uuids are derived
    deterministically so a demo run can be replayed.
    """
    pairs = []
    for n, order in enumerate(orders):
        offer_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"offer:{session_id.hex()}:{fsp}:{n}")
        body = {
            "offer_id": str(offer_uuid),
            "session": "0x" + session_id.hex(),
            "request": "0x" + request_ids[order.request_index].hex(),
            "fsp": fsp,
            "power_w": order.power_w,
            "price_per_mwh": order.price_per_mwh,
        }
        pairs.append((str(offer_uuid), canonical_json(body)))
    return offer_tree(pairs)


def onboard(mc: MarketContracts, roles: Roles, *, mint_to_dso: int) -> list[Step]:
    """Register every party with its role and fund the DSO (one-time, not per session)."""
    market, steps = mc.market, []
    entries = [
        (roles.dso, "DSO", "dso"),
        *((fsp, "FSP", f"fsp-{i}") for i, fsp in enumerate(roles.fsps)),
        (roles.oracle, "METER_ORACLE", "meter-oracle"),
        (roles.arbiter, "ARBITER", "arbiter"),
    ]
    for account, role, name in entries:
        metadata = keccak256(canonical_json({"name": name, "role": role, "account": account}))
        result = market.register_participant(
            account, metadata, [market.role(role)], sender=roles.admin
        )
        steps.append(_step("onboard", "registerParticipant", "admin", result, f"{name} as {role}"))
    result = mc.token.mint(roles.dso, mint_to_dso, sender=roles.admin)
    steps.append(_step("onboard", "mint", "admin", result, f"{eur(mint_to_dso)} to the DSO"))
    return steps


def run_lifecycle(
    mc: MarketContracts,
    control: AnvilControl,
    roles: Roles,
    plan: LifecyclePlan,
    *,
    on_step: Callable[[Step], None] | None = None,
    fsps_withdraw: bool = True,
) -> LifecycleReport:
    """Create -> request -> commit -> close -> clear -> readings root -> attest -> finalize ->
    withdraw (``fsps_withdraw=False``: the FSPs keep their credit, e.g. for a netting)."""
    market, token = mc.market, mc.token
    session_uuid = uuid.uuid5(
        uuid.NAMESPACE_URL, f"flexmarket:{plan.label}:{control.block_timestamp()}"
    )
    session_id = uuid_to_bytes32(session_uuid)
    report = LifecycleReport(session_id=session_id)

    def record(phase: str, action: str, actor: str, result: TxResult, detail: str = "") -> None:
        step = _step(phase, action, actor, result, detail)
        report.steps.append(step)
        if on_step:
            on_step(step)

    now = control.block_timestamp()
    gate_closure = now + 3600
    delivery_start = gate_closure + ISP_SECONDS
    delivery_end = delivery_start + plan.isp_count * ISP_SECONDS
    terms = SessionTerms(
        session_id=str(session_uuid),
        gate_closure=gate_closure,
        delivery_start=delivery_start,
        delivery_end=delivery_end,
        isp_s=ISP_SECONDS,
        challenge_window_s=plan.challenge_window_s,
        meter_grace_s=0,
        settlement=SettlementRules(isp_s=ISP_SECONDS),
    )
    record(
        "open",
        "createSession",
        "operator",
        market.create_session(
            session_id,
            gate_closure,
            delivery_start,
            delivery_end,
            ISP_SECONDS,
            plan.challenge_window_s,
            terms.terms_hash(),
            sender=roles.operator,
        ),
        f"gate closure +1 h, {plan.isp_count} ISPs, terms committed",
    )
    total_budget = sum(plan.budgets)
    record(
        "open",
        "approve",
        "dso",
        token.approve(market.address, total_budget, sender=roles.dso),
        eur(total_budget),
    )
    request_ids = []
    cp = code_to_bytes32(plan.congestion_point)
    for j, budget in enumerate(plan.budgets):
        request_uuid = uuid.uuid5(session_uuid, f"request-{j}")
        request_id = uuid_to_bytes32(request_uuid)
        request_hash = keccak256(canonical_json({"request": str(request_uuid), "budget": budget}))
        result = market.post_request(
            session_id, request_id, cp, request_hash, budget, sender=roles.dso
        )
        record("open", "postRequest", "dso", result, f"{eur(budget)} escrowed")
        request_ids.append(request_id)

    # Each FSP signs its commitment (offers root and count, prognosis/portfolio hash); the
    # operator relays them in one transaction per MAX_COMMITMENTS_PER_BATCH.
    signed = []
    no_prognosis, no_portfolio = prognosis_hash(()), portfolio_hash(())  # the plan has neither
    for f, fsp in enumerate(roles.fsps):
        own = [o for o in plan.orders if o.fsp_index == f]
        if not own:
            continue
        tree = offers_tree(session_id, request_ids, fsp, own)
        report.offer_roots[fsp] = tree.root
        signed.append(
            market.sign_commitment(session_id, tree.root, len(own), no_prognosis, no_portfolio, fsp)
        )
    batch = market.max_commitments_per_batch()
    for start in range(0, len(signed), batch):
        part = signed[start : start + batch]
        record(
            "open",
            "commitOffersBySig",
            "operator",
            market.commit_offers_by_sig(session_id, part, sender=roles.operator),
            f"{len(part)} FSP-signed commitments relayed",
        )

    control.warp_to(gate_closure)
    record(
        "close",
        "closeSession",
        "operator",
        market.close_session(session_id, sender=roles.operator),
        "at gate closure",
    )

    reservations = [
        Reservation(request_id=request_ids[r], fsp=roles.fsps[f], amount=amount)
        for r, f, amount in plan.reservations
    ]
    result_tree = StandardMerkleTree.of(
        [
            (request_ids[o.request_index], roles.fsps[o.fsp_index], o.power_w, o.price_per_mwh)
            for o in plan.orders
        ],
        ("bytes32", "address", "int256", "uint256"),
    )
    input_hash = keccak256(b"".join(sorted(report.offer_roots.values())) + b"".join(request_ids))
    record(
        "clear",
        "postClearing",
        "operator",
        market.post_clearing(
            session_id, input_hash, result_tree.root, reservations, sender=roles.operator
        ),
        f"{len(plan.orders)} orders in {len(reservations)} reservations",
    )

    control.warp_to(delivery_end)
    # under terms requiring readings digests (issue 16): their root, committed before attesting
    record(
        "verify",
        "commitReadingsDigests",
        "meter-oracle",
        market.commit_readings_digests(
            session_id, keccak256(b"readings" + session_id), sender=roles.oracle
        ),
        "root of the CPOs' readings digests",
    )
    delivery_root = keccak256(
        b"delivery" + session_id + b"".join(p.to_bytes(16, "big") for p in plan.payouts)
    )
    record(
        "verify",
        "attestDelivery",
        "meter-oracle",
        market.attest_delivery(session_id, delivery_root, plan.payouts, sender=roles.oracle),
        f"payouts {eur(sum(plan.payouts))}",
    )

    info = market.session(session_id)
    control.warp_to(info.challenge_deadline)
    record(
        "final",
        "finalize",
        "operator",
        market.finalize(session_id, sender=roles.operator),
        "after the challenge window",
    )

    for f, fsp in enumerate(roles.fsps if fsps_withdraw else []):
        if market.credits(fsp):
            result = market.withdraw(sender=fsp)
            record(
                "withdraw",
                "withdraw",
                f"fsp-{f}",
                result,
                eur(result.event("Withdrawn").args["amount"]),
            )
    if market.credits(roles.dso):
        result = market.withdraw(sender=roles.dso)
        record(
            "withdraw",
            "withdraw",
            "dso",
            result,
            f"refund {eur(result.event('Withdrawn').args['amount'])}",
        )

    final = market.session(session_id)
    if final.state != SessionState.FINAL:
        raise ChainError(f"session 0x{session_id.hex()}: ended in {final.state.name}, not FINAL")
    return report


def eur(units: int) -> str:
    """Token minor units (6 decimals) as a display string, without going through float."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 1_000_000)
    return f"{sign}{whole:,}.{frac:06d} EUR"


def _step(phase: str, action: str, actor: str, result: TxResult, detail: str = "") -> Step:
    return Step(
        phase=phase,
        action=action,
        actor=actor,
        gas_used=result.gas_used,
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        detail=detail,
    )
