"""Completeness of readings: per station and ISP, its CPO signs a digest of the readings it holds.

Why: a signed reading proves that a meter measured something, but not that the delivery bundle
holds *every* reading the meter sent.  An operator could withhold the readings that would lower
a payout, or list one reading twice, and the bundle would still verify.  So the station's CPO
(the account that registered the station's meter key on-chain) signs, per station and ISP, how
many readings it received and the Merkle root over them (``ReadingsDigest``).  The meter oracle
publishes the signed digests as the session's ``readings`` bundle and commits the bundle's root
on-chain (``commitReadingsDigests``) before it attests; the auditor then compares every
order's reading set with the digests (:func:`check_readings`).

Why the CPO and not the station: simulated and real stations speak OCPP, which has no message
for a digest, while the CPO runs the CSMS that receives every reading and already holds the key
the chain names as the station's registrar.

Definitions (all pure, integers only):

* a reading's leaf is ``keccak256(meter_reading_payload)`` (the bytes the station signed), in an
  OpenZeppelin StandardMerkleTree over ``("bytes32",)``; an empty set has :data:`ZERO_ROOT`;
* a digest covers the readings of one station whose timestamp lies in one ISP
  ``[isp_start, isp_start + isp_s)`` and in the settlement's reading window ``[lo, hi]``
  (``required_reading_window`` of the committed rules), so both sides count the same set;
* a digest exists for every ISP touching ``[lo, hi]``, with count 0 where there was nothing;
* a digest names the deployment (chain id and market contract address) it was signed for, so
  a digest signed for one market never counts in another (:data:`Domain`);
* the bundle's root is the StandardMerkleTree over ``keccak256(canonical_json(digest))`` of
  every signed digest (order-free), :data:`ZERO_ROOT` for none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from coincurve import PrivateKey
from pydantic import BaseModel, ConfigDict, Field

from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOrder
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.report import Portfolio
from clearing.trust import (
    canonical_json,
    eip191_sign,
    keccak256,
    readings_digest_payload,
    recover_eip191_signer,
)

__all__ = [
    "LEAF_ENCODING",
    "ZERO_ROOT",
    "Domain",
    "ReadingsBundle",
    "ReadingsDigest",
    "ReadingsFinding",
    "bundle_root",
    "check_readings",
    "cpo_digests",
    "digest_signer",
    "expected_keys",
    "isp_start_of",
    "isp_starts",
    "parse_bundle",
    "readings_bundle",
    "readings_root",
]

ZERO_ROOT = "0x" + "00" * 32
LEAF_ENCODING: tuple[str, ...] = ("bytes32",)

Key = tuple[str, int]  # (station, isp_start)
Domain = tuple[int, str]  # (chain id, market contract address): the deployment a digest is for


class ReadingsDigest(BaseModel):
    """One station's readings in one ISP, as its CPO received them, signed by the CPO."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    chain_id: int = Field(ge=1)
    market: str = Field(pattern=r"^0x[0-9a-f]{40}$")
    session_id: str = Field(min_length=1)
    station: str = Field(min_length=1)
    isp_start: int
    count: int = Field(ge=0)
    root: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    signature: str = ""

    @property
    def key(self) -> Key:
        return (self.station, self.isp_start)

    def payload(self) -> bytes:
        return readings_digest_payload(
            chain_id=self.chain_id,
            market=self.market,
            session_id=self.session_id,
            station=self.station,
            isp_start=self.isp_start,
            count=self.count,
            root=self.root,
        )


class ReadingsBundle(BaseModel):
    """The session's ``readings`` bundle: every signed digest and their root (on-chain)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: Literal[1] = 1
    session_id: str = Field(min_length=1)
    digests: tuple[ReadingsDigest, ...]
    root: str = Field(pattern=r"^0x[0-9a-f]{64}$")

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="python"))


@dataclass(frozen=True)
class ReadingsFinding:
    """A difference between the digests and a reading set; ``code`` without the check prefix."""

    code: str
    subject: str
    detail: str


def isp_start_of(timestamp: int, delivery_start: int, isp_s: int) -> int:
    """Start of the ISP grid slot holding ``timestamp`` (the grid extends before delivery)."""
    return delivery_start + (timestamp - delivery_start) // isp_s * isp_s


def isp_starts(lo: int, hi: int, delivery_start: int, isp_s: int) -> list[int]:
    """Every ISP start whose slot touches the reading window ``[lo, hi]``."""
    first = isp_start_of(lo, delivery_start, isp_s)
    return list(range(first, isp_start_of(hi, delivery_start, isp_s) + 1, isp_s))


def _leaf(reading: SignedMeterReading) -> bytes:
    return keccak256(reading.payload())


def readings_root(readings: Sequence[SignedMeterReading]) -> tuple[int, str]:
    """(count, root) of a reading set, as listed (a reading listed twice counts twice)."""
    if not readings:
        return 0, ZERO_ROOT
    tree = StandardMerkleTree.of([(_leaf(r),) for r in readings], LEAF_ENCODING)
    return len(readings), "0x" + tree.root.hex()


def _group(
    readings: Iterable[SignedMeterReading], lo: int, hi: int, delivery_start: int, isp_s: int
) -> dict[Key, list[SignedMeterReading]]:
    out: dict[Key, list[SignedMeterReading]] = defaultdict(list)
    for r in readings:
        if lo <= r.timestamp <= hi:
            out[(r.station, isp_start_of(r.timestamp, delivery_start, isp_s))].append(r)
    return out


def _unique(readings: Sequence[SignedMeterReading]) -> list[SignedMeterReading]:
    """One of each signed payload (a station's register at one instant is one reading)."""
    seen: dict[bytes, SignedMeterReading] = {}
    for r in readings:
        seen.setdefault(r.payload(), r)
    return list(seen.values())


def cpo_digests(
    *,
    session_id: str,
    readings: Iterable[SignedMeterReading],
    stations: Iterable[str],
    window: tuple[int, int],
    delivery_start: int,
    isp_s: int,
    key: PrivateKey,
    domain: Domain,
) -> list[ReadingsDigest]:
    """The CPO's side: one signed digest per station of ``stations`` and per ISP of the window,
    over the readings it received (each signed payload once), for the market ``domain``."""
    lo, hi = window
    chain_id, market = domain
    grouped = _group(readings, lo, hi, delivery_start, isp_s)
    out = []
    for station in sorted(set(stations)):
        for start in isp_starts(lo, hi, delivery_start, isp_s):
            count, root = readings_root(_unique(grouped.get((station, start), [])))
            d = ReadingsDigest(
                chain_id=chain_id,
                market=market.lower(),
                session_id=session_id,
                station=station,
                isp_start=start,
                count=count,
                root=root,
            )
            out.append(d.model_copy(update={"signature": eip191_sign(key, d.payload())}))
    return out


def digest_signer(digest: ReadingsDigest) -> str | None:
    """Lower-case address that signed ``digest``, or None when unsigned or malformed."""
    if not digest.signature:
        return None
    try:
        return recover_eip191_signer(digest.payload(), digest.signature).lower()
    except Exception:  # any malformed signature (eth-account raises several kinds) is unsigned
        return None


def _digest_leaf(digest: ReadingsDigest) -> bytes:
    return keccak256(canonical_json(digest.model_dump(mode="python")))


def bundle_root(digests: Sequence[ReadingsDigest]) -> str:
    """The root ``commitReadingsDigests`` anchors: over every signed digest, order-free."""
    if not digests:
        return ZERO_ROOT
    tree = StandardMerkleTree.of([(_digest_leaf(d),) for d in digests], LEAF_ENCODING)
    return "0x" + tree.root.hex()


def readings_bundle(session_id: str, digests: Iterable[ReadingsDigest]) -> ReadingsBundle:
    """The bundle of the given digests (one list, sorted by station and ISP)."""
    ordered = tuple(sorted(digests, key=lambda d: (d.station, d.isp_start, d.signature)))
    return ReadingsBundle(session_id=session_id, digests=ordered, root=bundle_root(ordered))


def expected_keys(
    portfolios: Iterable[Portfolio],
    orders: Iterable[FlexOrder],
    *,
    window: tuple[int, int],
    delivery_start: int,
    isp_s: int,
) -> set[Key]:
    """(station, ISP start) pairs that need a digest: every meter of a portfolio behind an
    order (its FSP at its congestion point), in every ISP of the reading window."""
    ordered = {(o.fsp.lower(), o.congestion_point) for o in orders}
    stations = {
        meter.station
        for p in portfolios
        if (p.fsp.lower(), p.congestion_point) in ordered
        for meter in p.meters
    }
    starts = isp_starts(*window, delivery_start, isp_s)
    return {(station, start) for station in stations for start in starts}


def _subject(key: Key) -> str:
    return f"{key[0]}@{key[1]}"


def _valid_digests(
    bundle: ReadingsBundle, cpo_of: Mapping[str, str], domain: Domain, out: list[ReadingsFinding]
) -> dict[Key, ReadingsDigest]:
    if bundle_root(bundle.digests) != bundle.root:
        out.append(
            ReadingsFinding("root_mismatch", bundle.session_id, "bundle root is not its digests'")
        )
    valid: dict[Key, ReadingsDigest] = {}
    for d in bundle.digests:
        subject = _subject(d.key)
        cpo = cpo_of.get(d.station, "").lower()
        signer = digest_signer(d)
        if d.session_id != bundle.session_id:
            out.append(ReadingsFinding("digest_foreign", subject, f"for session {d.session_id}"))
        elif (d.chain_id, d.market) != (domain[0], domain[1].lower()):
            out.append(
                ReadingsFinding(
                    "digest_wrong_domain",
                    subject,
                    f"signed for chain {d.chain_id} market {d.market}, not chain {domain[0]} "
                    f"market {domain[1].lower()}",
                )
            )
        elif not cpo or signer != cpo:
            out.append(
                ReadingsFinding(
                    "digest_invalid_signature",
                    subject,
                    f"signer {signer or 'none'} is not the station's CPO {cpo or '(none)'}",
                )
            )
        elif d.key in valid:
            out.append(ReadingsFinding("digest_duplicate", subject, "two digests for one ISP"))
        else:
            valid[d.key] = d
    return valid


def check_readings(
    bundle: ReadingsBundle,
    readings: Sequence[SignedMeterReading],
    *,
    expected: Iterable[Key],
    cpo_of: Mapping[str, str],
    window: tuple[int, int],
    delivery_start: int,
    isp_s: int,
    domain: Domain,
) -> list[ReadingsFinding]:
    """Compare a reading set (the delivery bundle's) with the signed digests.

    ``expected`` are the (station, ISP start) pairs a digest must exist for (the meters of the
    portfolios behind the orders, every ISP of the window); any pair with readings needs one
    too.  ``cpo_of`` maps a station to its on-chain CPO; ``domain`` is the deployment the
    digests must be signed for.  Findings: ``digest_missing``, ``digest_wrong_domain``,
    ``withheld`` (fewer readings than signed), ``extra`` (more), ``double_counted`` (one
    signed reading listed twice), ``digest_mismatch`` (same count, other readings),
    ``digest_invalid_signature``, ``digest_duplicate``, ``digest_foreign``, ``root_mismatch``."""
    out: list[ReadingsFinding] = []
    valid = _valid_digests(bundle, cpo_of, domain, out)
    lo, hi = window
    grouped = _group(readings, lo, hi, delivery_start, isp_s)
    for key in sorted(set(expected) | set(grouped)):
        listed = grouped.get(key, [])
        subject = _subject(key)
        twice = sum(n - 1 for n in Counter(r.payload() for r in listed).values())
        if twice:
            out.append(ReadingsFinding("double_counted", subject, f"{twice} reading(s) twice"))
        digest = valid.get(key)
        if digest is None:
            out.append(ReadingsFinding("digest_missing", subject, f"{len(listed)} reading(s)"))
            continue
        count, root = readings_root(_unique(listed))
        if count < digest.count:
            out.append(
                ReadingsFinding("withheld", subject, f"{count} of {digest.count} signed readings")
            )
        elif count > digest.count:
            out.append(
                ReadingsFinding(
                    "extra", subject, f"{count} readings, the CPO signed {digest.count}"
                )
            )
        elif root != digest.root:
            out.append(ReadingsFinding("digest_mismatch", subject, f"{count} other readings"))
    return out


def parse_bundle(obj: Any) -> ReadingsBundle:
    """A readings bundle from its JSON object; raises ValueError on any other shape."""
    return ReadingsBundle.model_validate_json(canonical_json(obj))
