"""Orders are checked against the on-chain root with the result bundle's proofs; energy per
EVSE and the EV users' integer shares."""

from __future__ import annotations

import uuid

from adapters.ocpp.sink import MeterReading
from clearing.bundle import FspProofs, OrderProof, ResultBundle
from clearing.encoding import hex32
from clearing.engine import ORDER_LEAF_ENCODING, order_leaf
from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOrder, IspPower
from market.fsp.checks import energy_wh, user_shares, verify_orders

FSP = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
SESSION = str(uuid.uuid4())


def _order(n: int, fsp: str = FSP, power_w: int = 5_000) -> FlexOrder:
    return FlexOrder(
        order_id=str(uuid.UUID(int=n + 1)),
        session_id=SESSION,
        offer_id=str(uuid.UUID(int=100 + n)),
        option_ref="flat",
        fsp=fsp,
        request_id=str(uuid.UUID(int=200)),
        congestion_point="CP-1",
        direction="UP",
        activation_ppm=1_000_000,
        isps=(IspPower(isp_index=0, power_w=power_w),),
        price_per_mwh=100_000_000,
        payment_cap_units=1_000 + n,
    )


def _published(orders: list[FlexOrder]) -> tuple[ResultBundle, str]:
    tree = StandardMerkleTree.of([order_leaf(o) for o in orders], ORDER_LEAF_ENCODING)
    groups: dict[str, list[OrderProof]] = {}
    for i, o in enumerate(orders):
        proof = tuple(hex32(p) for p in tree.proof(i))
        groups.setdefault(o.fsp, []).append(OrderProof(order_id=o.order_id, proof=proof))
    result = ResultBundle.model_construct(
        fsp_proofs=tuple(FspProofs(fsp=f, orders=tuple(g)) for f, g in groups.items())
    )
    return result, hex32(tree.root)


def test_own_orders_verify_against_the_onchain_root() -> None:

    orders = [_order(0), _order(1), _order(2, OTHER)]
    result, root = _published(orders)
    checked = verify_orders(orders[:2], result, root, FSP.upper().replace("0X", "0x"))
    assert [reason for _, reason in checked] == ["", ""]


def test_a_tampered_order_or_another_root_is_refused_with_a_reason() -> None:

    orders = [_order(0), _order(1)]
    result, root = _published(orders)
    tampered = _order(1, power_w=50_000)  # the API says more than was cleared
    ((_, reason),) = verify_orders([tampered], result, root, FSP)
    assert reason == "does not verify against the on-chain orders root"
    other_root = "0x" + "22" * 32
    assert all(r for _, r in verify_orders(orders, result, other_root, FSP))
    ((_, none),) = verify_orders([orders[0]], result, "0x" + "00" * 32, FSP)
    assert none.startswith("no orders root on-chain")
    ((_, missing),) = verify_orders([orders[0]], None, root, FSP)
    assert "not published" in missing
    ((_, unknown),) = verify_orders([_order(7)], result, root, FSP)
    assert unknown == "the result bundle has no proof for this order"


def _r(ts: int, imp: int, exp: int = 0) -> MeterReading:
    return MeterReading("ST", 1, ts, imp, exp, 0, None, "ocpp2.1", ts)


def test_energy_counts_import_and_export_inside_the_window() -> None:

    readings = [_r(0, 100), _r(900, 1_000, 0), _r(1_800, 1_500, 300), _r(2_700, 9_999, 999)]
    assert energy_wh(readings, 900, 1_800) == 500 + 300
    assert energy_wh(readings, 0, 1_800) == 1_400 + 300
    assert energy_wh(readings, 5_000, 6_000) == 0  # no reading inside
    assert energy_wh([_r(950, 10)], 900, 1_800) == 0  # one reading: no difference


def test_shares_are_integers_by_energy_and_never_exceed_the_payout() -> None:

    shares = user_shares(1_000, {"alice": 2, "bob": 1, "carol": 0})
    assert shares == {"alice": 666, "bob": 333, "carol": 0}
    assert sum(shares.values()) == 999  # the remainder (1 unit) stays with the FSP
    assert user_shares(1_000, {"alice": 0, "bob": 0}) == {"alice": 0, "bob": 0}
    assert user_shares(0, {"alice": 5}) == {"alice": 0}
