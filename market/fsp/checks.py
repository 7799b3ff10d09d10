"""Pure checks and shares of the FSP gateway: orders against the on-chain orders root, energy
per EVSE over a delivery window, and the EV users' shares of a payout.

Why the chain decides: the API serves the orders, but the operator anchored their Merkle
root on-chain when it posted the clearing. An order is acted on only if its own leaf (the
encoding the auditor uses, ``clearing.engine.order_leaf``) with the proof from the published
result bundle reproduces that root; a tampered order, bundle or proof cannot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.ocpp.sink import MeterReading
from clearing.bundle import ResultBundle
from clearing.engine import ORDER_LEAF_ENCODING, order_leaf
from clearing.merkle import verify_proof
from clearing.messages import FlexOrder


def _bytes32(text: str) -> bytes | None:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def verify_orders(
    orders: Sequence[FlexOrder], result: ResultBundle | None, onchain_root: str, fsp: str
) -> list[tuple[FlexOrder, str]]:
    """Each order with ``""`` when it verifies against ``onchain_root``, else the reason."""
    root = _bytes32(onchain_root)
    if root is None or not any(root):
        return [(o, f"no orders root on-chain for the session ({onchain_root})") for o in orders]
    if result is None:
        return [(o, "the result bundle (with the Merkle proofs) is not published") for o in orders]
    proofs = {
        item.order_id: item.proof
        for group in result.fsp_proofs
        if group.fsp.lower() == fsp.lower()
        for item in group.orders
    }
    out: list[tuple[FlexOrder, str]] = []
    for order in orders:
        proof = proofs.get(order.order_id)
        if proof is None:
            out.append((order, "the result bundle has no proof for this order"))
            continue
        steps = [_bytes32(p) for p in proof]
        if any(s is None for s in steps):
            out.append((order, "the proof is not a list of 32-byte hex values"))
            continue
        ok = verify_proof(root, ORDER_LEAF_ENCODING, order_leaf(order), [s for s in steps if s])
        out.append((order, "" if ok else "does not verify against the on-chain orders root"))
    return out


def energy_wh(readings: Sequence[MeterReading], start: int, end: int) -> int:
    """Energy moved through one EVSE meter in ``[start, end]``: import plus export register
    increase from the last reading at or before ``start`` (else the first inside) to the last
    reading at or before ``end``; 0 without two such readings."""
    ordered = sorted(readings, key=lambda r: r.timestamp)
    before = [r for r in ordered if r.timestamp <= start]
    inside = [r for r in ordered if start < r.timestamp <= end]
    first = before[-1] if before else (inside[0] if inside else None)
    last = inside[-1] if inside else None
    if first is None or last is None or last is first:
        return 0
    return max(0, last.import_wh - first.import_wh) + max(0, last.export_wh - first.export_wh)


def user_shares(payout_units: int, energy_by_user: Mapping[str, int]) -> dict[str, int]:
    """Split a payout among EV users by the energy of their EVSEs (integers).

    Rule: each user gets ``floor(payout x energy / total energy)``; the remainder (fewer
    units than there are users) stays with the FSP, so the shares never exceed the payout.
    No energy at all: every share is 0.
    """
    total = sum(max(0, e) for e in energy_by_user.values())
    if payout_units <= 0 or total == 0:
        return dict.fromkeys(energy_by_user, 0)
    return {u: payout_units * max(0, e) // total for u, e in sorted(energy_by_user.items())}
