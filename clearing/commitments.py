"""The commitment an FSP posts on-chain before gate closure: one Merkle root per offer set,
plus the hash of its prognosis and of its portfolio with its revenue-sharing contract set.

Leaf = ``(bytes32 keccak256(offer uuid bytes), bytes32 keccak256(canonical offer JSON))`` in an
OpenZeppelin StandardMerkleTree. One definition, shared by the service (receipts, bundles), the
client (what an FSP commits), the chain demo and the auditor, so they can never drift apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from clearing.encoding import canonical_json, hex32, keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree
from clearing.messages import DPrognosis, FlexOffer
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from clearing.settlement.revenue import RevenueShareContract

OFFER_LEAF_ENCODING = ("bytes32", "bytes32")


def offer_leaf(offer_id: str, canonical_body: bytes) -> tuple[bytes, bytes]:
    """Leaf of one offer in its FSP's commitment."""
    return (uuid_to_bytes32(offer_id), keccak256(canonical_body))


def offer_tree(offers: Iterable[tuple[str, bytes]]) -> StandardMerkleTree:
    """StandardMerkleTree over (offer_id, canonical body bytes) pairs, in the given order."""
    leaves = [offer_leaf(offer_id, body) for offer_id, body in offers]
    return StandardMerkleTree.of(leaves, OFFER_LEAF_ENCODING)


def offers_root(offers: Iterable[FlexOffer]) -> bytes:
    """Root of an FSP's offer set (the all-zero root for no offers)."""
    pairs = [(o.offer_id, o.to_canonical()) for o in offers]
    if not pairs:
        return bytes(32)
    return offer_tree(pairs).root


# ---- what an FSP binds next to its offers: its prognosis and its portfolio --------------------
#
# Why: delivery is measured against the FSP's baseline (its DPrognosis) on the meters of its
# portfolio. If either were only in the operator's bundles, an operator could swap a baseline or
# a meter after seeing the orders. The FSP commits both with its offers (OffersCommitted's
# prognosisHash and portfolioHash); the delivery bundle must carry exactly these preimages.


def prognosis_hash(prognoses: Iterable[DPrognosis]) -> bytes:
    """keccak256 of the canonical JSON list of one FSP's prognoses for a session, sorted by
    (congestion point, prognosis id); an empty list hashes too (the FSP nominated none)."""
    docs = sorted(
        (p.model_dump(mode="json") for p in prognoses),
        key=lambda d: (d["congestion_point"], d["prognosis_id"]),
    )
    return keccak256(canonical_json(docs))


def contract_leaf(contract: RevenueShareContract) -> bytes:
    """keccak256 of a revenue-sharing contract's canonical JSON (its terms, not signatures)."""
    return keccak256(canonical_json(contract.model_dump(mode="python")))


def contract_set_root(contracts: Iterable[RevenueShareContract]) -> bytes:
    """keccak256 of the canonical JSON list of the contracts' leaves (0x-hex, sorted): the
    set of revenue-sharing contracts an FSP binds before gate closure; no contracts hash to
    ``EMPTY_CONTRACT_SET``. Why: otherwise the operator could pick, after delivery, which of
    an FSP's signed contracts (an older one with other fees) applies, or omit one."""
    return keccak256(canonical_json(sorted(hex32(contract_leaf(c)) for c in contracts)))


EMPTY_CONTRACT_SET = contract_set_root(())


def portfolio_hash(
    portfolios: Iterable[Portfolio], contract_set: bytes = EMPTY_CONTRACT_SET
) -> bytes:
    """keccak256 of the canonical JSON ``{"contract_set": 0x-root, "portfolios": [...]}``: one
    FSP's portfolios (congestion point and its meters, each list sorted) - which meters count
    for the FSP at which congestion point - and the root of its revenue-sharing contracts
    (``contract_set_root``), folded in so the on-chain commitment needs no further field."""
    docs = [
        {
            "congestion_point": p.congestion_point,
            "meters": [
                {"station": station, "evse": evse}
                for station, evse in sorted((m.station, m.evse) for m in p.meters)
            ],
        }
        for p in sorted(portfolios, key=lambda p: p.congestion_point)
    ]
    return keccak256(canonical_json({"contract_set": hex32(contract_set), "portfolios": docs}))


def own_prognoses(prognoses: Iterable[DPrognosis], fsp: str) -> list[DPrognosis]:
    """The prognoses delivery is measured against for ``fsp``: its first one per congestion
    point, in the given (publication) order, as the service's verification picks them."""
    first: dict[str, DPrognosis] = {}
    for p in prognoses:
        if p.fsp.lower() == fsp.lower():
            first.setdefault(p.congestion_point, p)
    return list(first.values())


def own_portfolios(portfolios: Iterable[Portfolio], fsp: str) -> list[Portfolio]:
    """``fsp``'s portfolios among everyone's."""
    return [p for p in portfolios if p.fsp.lower() == fsp.lower()]


# ---- the service's side: find, among what it stores, the preimages an FSP committed -----------
#
# Why a search: the FSP hashed what it read from the API when it committed; it may post another
# prognosis or register another asset afterwards. The store deletes neither, so the committed
# preimage is one prognosis (or none) per congestion point among the FSP's stored ones, and a
# subset of its registered meters. A hash fixes the preimage: whatever matches is what it
# committed. The search starts from "everything stored" and is bounded, so it stays cheap.

MAX_PREIMAGE_TRIES = 4096


def committed_prognoses(
    stored: Sequence[DPrognosis], fsp: str, committed: bytes, *, max_tries: int = MAX_PREIMAGE_TRIES
) -> list[DPrognosis] | None:
    """``fsp``'s prognoses (at most one per congestion point, from ``stored``, in stored order
    preference) hashing to ``committed``; None when no choice within ``max_tries`` does."""
    by_cp: dict[str, list[DPrognosis | None]] = {}
    for p in stored:
        if p.fsp.lower() == fsp.lower():
            by_cp.setdefault(p.congestion_point, []).append(p)
    options = [[*by_cp[cp], None] for cp in sorted(by_cp)]
    for tries, choice in enumerate(itertools.product(*options)):
        if tries >= max_tries:
            return None
        picked = [p for p in choice if p is not None]
        if prognosis_hash(picked) == committed:
            return picked
    return None


def committed_portfolios(
    stored: Sequence[Portfolio],
    fsp: str,
    committed: bytes,
    contract_sets: Sequence[bytes] = (EMPTY_CONTRACT_SET,),
    *,
    max_tries: int = MAX_PREIMAGE_TRIES,
) -> tuple[list[Portfolio], bytes] | None:
    """The subset of ``fsp``'s stored meters (per congestion point) and the contract-set root
    among ``contract_sets`` hashing to ``committed``, trying fewer dropped meters first; None
    when no choice within ``max_tries`` meter subsets does. Every root is tried with each
    subset and not counted against the budget: an FSP's sets grow with each contract it posts,
    and counting them would leave its meters' search short."""
    mine = own_portfolios(stored, fsp)
    meters = [(p.congestion_point, m) for p in mine for m in p.meters]
    tries = 0
    for dropped in range(len(meters) + 1):
        for gone in itertools.combinations(range(len(meters)), dropped):
            kept: dict[str, list[MeterRef]] = {}
            for i, (cp, meter) in enumerate(meters):
                if i not in gone:
                    kept.setdefault(cp, []).append(meter)
            picked = [
                Portfolio(fsp=fsp.lower(), congestion_point=cp, meters=tuple(ms))
                for cp, ms in sorted(kept.items())
            ]
            if tries >= max_tries:
                return None
            tries += 1
            for root in contract_sets:
                if portfolio_hash(picked, root) == committed:
                    return picked, root
    return None
