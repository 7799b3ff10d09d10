"""Readings digests: per station and ISP the CPO signs count + Merkle root of what it received,
and the check names each way a reading set can differ from them."""

from __future__ import annotations

import pytest

from clearing.merkle import StandardMerkleTree
from clearing.readings_digest import (
    ZERO_ROOT,
    ReadingsBundle,
    check_readings,
    cpo_digests,
    digest_signer,
    isp_start_of,
    isp_starts,
    parse_bundle,
    readings_bundle,
    readings_root,
)
from clearing.settlement.meter import SignedMeterReading, sign_reading
from clearing.trust import keccak256, readings_digest_payload, secp256k1_key, station_address

SID = "6f1c1f57-3c2a-4f39-9a4e-0d0bb0d1a001"
STATION_KEY = "0x" + "11" * 32
CPO_KEY = "0x" + "22" * 32
OTHER_KEY = "0x" + "33" * 32
CPO = station_address("0x" + secp256k1_key(CPO_KEY).public_key.format(compressed=False).hex())
START, ISP = 9_000, 900
CHAIN_ID, MARKET = 31337, "0x" + "ab" * 20
DOMAIN = (CHAIN_ID, MARKET)
WINDOW = (START - 300, START + 2 * ISP + 300)  # lo/hi not ISP-aligned on purpose


def reading(ts: int, import_wh: int, station: str = "CS-1") -> SignedMeterReading:
    return sign_reading(
        STATION_KEY, station=station, evse=1, timestamp=ts, import_wh=import_wh, export_wh=0
    )


READINGS = [reading(START - 300 + 60 * i, 1_000 + 10 * i) for i in range(0, 60)]


def digests(
    readings: list[SignedMeterReading], key: str = CPO_KEY, domain: tuple[int, str] = DOMAIN
) -> ReadingsBundle:
    signed = cpo_digests(
        session_id=SID,
        readings=readings,
        stations=["CS-1"],
        window=WINDOW,
        delivery_start=START,
        isp_s=ISP,
        key=secp256k1_key(key),
        domain=domain,
    )
    return readings_bundle(SID, signed)


def check(bundle: ReadingsBundle, readings: list[SignedMeterReading]) -> list[tuple[str, str]]:
    expected = [("CS-1", s) for s in isp_starts(*WINDOW, START, ISP)]
    found = check_readings(
        bundle,
        readings,
        expected=expected,
        cpo_of={"CS-1": CPO},
        window=WINDOW,
        delivery_start=START,
        isp_s=ISP,
        domain=DOMAIN,
    )
    return [(f.code, f.subject) for f in found]


def test_isp_grid_extends_before_delivery() -> None:
    assert isp_start_of(START - 1, START, ISP) == START - ISP
    assert isp_start_of(START + ISP, START, ISP) == START + ISP
    assert isp_starts(*WINDOW, START, ISP) == [START - ISP, START, START + ISP, START + 2 * ISP]


def test_root_is_the_standard_tree_over_signed_payload_hashes() -> None:
    assert readings_root([]) == (0, ZERO_ROOT)
    count, root = readings_root(READINGS[:3])
    tree = StandardMerkleTree.of([(keccak256(r.payload()),) for r in READINGS[:3]], ("bytes32",))
    assert (count, root) == (3, "0x" + tree.root.hex())
    assert readings_root(list(reversed(READINGS[:3]))) == (count, root)  # order-free


def test_one_signed_digest_per_station_and_isp_with_zero_for_silence() -> None:
    bundle = digests(READINGS[:5])  # only readings of the ISP before delivery
    assert [(d.isp_start, d.count) for d in bundle.digests] == [
        (START - ISP, 5),
        (START, 0),
        (START + ISP, 0),
        (START + 2 * ISP, 0),
    ]
    assert all(digest_signer(d) == CPO for d in bundle.digests)
    assert bundle.digests[1].root == ZERO_ROOT
    assert bundle.digests[0].payload() == readings_digest_payload(
        chain_id=CHAIN_ID,
        market=MARKET,
        session_id=SID,
        station="CS-1",
        isp_start=START - ISP,
        count=5,
        root=bundle.digests[0].root,
    )
    assert parse_bundle(bundle.model_dump()) == bundle


def test_cpo_counts_a_reading_it_received_twice_once() -> None:
    assert digests(READINGS + READINGS[:2]) == digests(READINGS)


def test_honest_reading_set_passes() -> None:
    assert check(digests(READINGS), READINGS) == []
    # readings outside the window are not the digests' concern
    assert check(digests(READINGS), [*READINGS, reading(WINDOW[1] + 1, 9_999)]) == []


def test_withheld_reading_is_named() -> None:
    kept = [r for r in READINGS if r.timestamp != START + 120]
    assert check(digests(READINGS), kept) == [("withheld", f"CS-1@{START}")]


def test_double_counted_reading_is_named() -> None:
    assert check(digests(READINGS), [*READINGS, READINGS[10]]) == [
        ("double_counted", f"CS-1@{START}")
    ]


def test_extra_reading_is_named() -> None:
    found = check(digests(READINGS), [*READINGS, reading(START + 130, 1_500)])
    assert found == [("extra", f"CS-1@{START}")]


def test_substituted_reading_is_a_digest_mismatch() -> None:
    swapped = [
        reading(r.timestamp, r.import_wh + 1) if r.timestamp == START else r for r in READINGS
    ]
    assert check(digests(READINGS), swapped) == [("digest_mismatch", f"CS-1@{START}")]


def test_missing_digest_is_named() -> None:
    bundle = digests(READINGS)
    dropped = readings_bundle(SID, [d for d in bundle.digests if d.isp_start != START])
    assert check(dropped, READINGS) == [("digest_missing", f"CS-1@{START}")]


def test_digest_signed_by_someone_else_does_not_count() -> None:
    forged = digests(READINGS, key=OTHER_KEY)
    found = check(forged, READINGS)
    assert {code for code, _ in found} == {"digest_invalid_signature", "digest_missing"}
    assert len(found) == 8


def test_edited_digest_breaks_its_signature_and_the_root() -> None:
    bundle = digests(READINGS)
    first = bundle.digests[1].model_copy(update={"count": 3})
    edited = bundle.model_copy(update={"digests": (bundle.digests[0], first, *bundle.digests[2:])})
    found = check(edited, READINGS)
    assert ("root_mismatch", SID) in found
    assert ("digest_invalid_signature", f"CS-1@{START}") in found


@pytest.mark.parametrize(
    ("domain", "what"),
    [((CHAIN_ID + 1, MARKET), "another chain"), ((CHAIN_ID, "0x" + "cd" * 20), "another market")],
)
def test_digest_signed_for_another_deployment_does_not_count(
    domain: tuple[int, str], what: str
) -> None:
    """The CPO's own key, the right session, the right readings: only the deployment differs
    (a digest signed for a test market replayed into this one)."""
    elsewhere = digests(READINGS, domain=domain)
    assert all(digest_signer(d) == CPO for d in elsewhere.digests), what
    found = check(elsewhere, READINGS)
    assert {code for code, _ in found} == {"digest_wrong_domain", "digest_missing"}, what
    assert len(found) == 8


def test_domain_is_part_of_the_signed_bytes() -> None:
    """Editing a digest's chain id back to this deployment's breaks its signature."""
    d = digests(READINGS, domain=(CHAIN_ID + 1, MARKET)).digests[1]
    moved = d.model_copy(update={"chain_id": CHAIN_ID})
    assert digest_signer(moved) not in (None, CPO)
    assert b'"chain_id":31337' in moved.payload() and b'"market":"0xabab' in moved.payload()


@pytest.mark.parametrize("field", ["count", "isp_start", "chain_id"])
def test_digest_payload_refuses_non_integers(field: str) -> None:
    args: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "market": MARKET,
        "session_id": SID,
        "station": "CS-1",
        "isp_start": 0,
        "count": 0,
        "root": ZERO_ROOT,
    }
    args[field] = "1"
    with pytest.raises(ValueError, match=field):
        readings_digest_payload(**args)  # type: ignore[arg-type]
