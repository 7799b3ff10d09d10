"""Check 2: the input bundle holds exactly the offer sets FSPs committed, receipts prove it."""

from __future__ import annotations

from collections import defaultdict

from clearing.bundle import InputBundle
from clearing.commitments import OFFER_LEAF_ENCODING, offer_leaf, offers_root
from clearing.merkle import leaf_hash, process_proof
from clearing.messages import FlexOffer
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.findings import CheckResult
from market.audit.receipts import Receipts
from market.audit.session_bundles import SessionBundles, root_bytes, short_hex


def check_offers(
    cs: AuditedSession, sb: SessionBundles, receipts: list[Receipts] | None = None
) -> CheckResult:
    res = CheckResult("offers")
    if sb.input is None:
        return res.skip("no parsed input bundle")
    by_fsp: dict[str, list[FlexOffer]] = defaultdict(list)
    for offer in sb.input.offers:
        by_fsp[offer.fsp.lower()].append(offer)
    for fsp in sorted(set(by_fsp) | set(cs.commitments)):
        offers = by_fsp.get(fsp, [])
        committed = cs.commitments.get(fsp)
        if committed is None:
            res.add(
                "offers.added",
                f"{len(offers)} offer(s) of an FSP that committed nothing on-chain",
                fsp,
            )
            continue
        root = offers_root(offers)
        if root == committed.root and len(offers) == committed.count:
            continue
        if len(offers) > committed.count:
            code, what = "offers.added", f"{len(offers) - committed.count} more than committed"
        elif len(offers) < committed.count:
            code, what = "offers.dropped", f"{committed.count - len(offers)} fewer than committed"
        else:
            code, what = "offers.changed", "same count, different content"
        res.add(
            code,
            f"{len(offers)} offer(s) in the input bundle give root {short_hex(root)}, on-chain "
            f"{committed.count} offer(s) with root {short_hex(committed.root)}: {what}",
            fsp,
        )
    for rec in receipts or []:
        _check_receipts(cs, sb.input, rec, res)
    res.notes.append(
        f"{len(sb.input.offers)} offers of {len(by_fsp)} FSPs against {len(cs.commitments)} "
        "on-chain commitments"
    )
    return res


def _check_receipts(
    cs: AuditedSession, bundle: InputBundle, rec: Receipts, res: CheckResult
) -> None:
    committed = cs.commitments.get(rec.fsp)
    in_bundle = {o.offer_id: o for o in bundle.offers if o.fsp.lower() == rec.fsp}
    own = {offer.offer_id: offer for offer in rec.offers}
    for item in rec.receipts:
        offer_id = item.offer_id
        subject = f"{rec.fsp}/{offer_id}"
        root = root_bytes(item.root)
        leaf = root_bytes(item.leaf_hash)
        proof = [root_bytes(p) for p in item.proof]
        if committed is None or root != committed.root:
            res.add(
                "receipts.root_not_committed",
                f"receipt root {short_hex(root)} is not on-chain",
                subject,
            )
            continue
        if process_proof(leaf, proof) != committed.root:
            res.add("receipts.proof_invalid", "proof does not reach the on-chain root", subject)
            continue
        if offer_id in own:
            mine = leaf_hash(
                OFFER_LEAF_ENCODING, offer_leaf(offer_id, own[offer_id].to_canonical())
            )
            if mine != leaf:
                res.add(
                    "receipts.proof_invalid", "the FSP's own offer is not the proven leaf", subject
                )
                continue
        published = in_bundle.get(offer_id)
        if published is None:
            res.add("receipts.offer_missing", "proven offer absent from the input bundle", subject)
            continue
        published_leaf = offer_leaf(offer_id, published.to_canonical())
        if leaf_hash(OFFER_LEAF_ENCODING, published_leaf) != leaf:
            res.add(
                "receipts.offer_changed",
                "the input bundle's version of this offer is not the committed one",
                subject,
            )
