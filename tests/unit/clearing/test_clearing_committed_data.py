"""The service finds, among its stored prognoses and meters, the preimages an FSP committed."""

from __future__ import annotations

from clearing.commitments import (
    committed_portfolios,
    committed_prognoses,
    portfolio_hash,
    prognosis_hash,
)
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio

FSP = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
SESSION = "11111111-1111-4111-8111-111111111111"


def prog(n: int, cp: str, fsp: str = FSP, power_w: int = 1_000) -> DPrognosis:
    return DPrognosis(
        prognosis_id=f"00000000-0000-4000-8000-{n:012d}",
        session_id=SESSION,
        fsp=fsp,
        congestion_point=cp,
        isps=[BaselineIsp(isp_index=0, power_w=power_w)],
    )


def port(cp: str, *stations: str, fsp: str = FSP) -> Portfolio:
    return Portfolio(
        fsp=fsp, congestion_point=cp, meters=tuple(MeterRef(station=s, evse=1) for s in stations)
    )


def test_a_later_prognosis_sorting_first_is_not_picked() -> None:
    committed = [prog(5, "CP-1"), prog(6, "CP-2")]
    stored = [prog(1, "CP-1", power_w=9_999), *committed, prog(2, "CP-3"), prog(3, "CP-1", OTHER)]
    found = committed_prognoses(stored, FSP, prognosis_hash(committed))
    assert found is not None and prognosis_hash(found) == prognosis_hash(committed)
    assert {p.prognosis_id for p in found} == {p.prognosis_id for p in committed}


def test_an_empty_commitment_matches_no_prognosis() -> None:
    assert committed_prognoses([prog(1, "CP-1")], FSP, prognosis_hash([])) == []


def test_an_unmatched_hash_gives_none() -> None:
    assert committed_prognoses([prog(1, "CP-1")], FSP, b"\x01" * 32) is None
    assert committed_portfolios([port("CP-1", "ST-A")], FSP, b"\x01" * 32) is None


def test_meters_registered_after_the_commitment_are_dropped() -> None:
    committed = [port("CP-1", "ST-A")]
    stored = [port("CP-1", "ST-A", "ST-C"), port("CP-2", "ST-D"), port("CP-1", "ST-X", fsp=OTHER)]
    found = committed_portfolios(stored, FSP, portfolio_hash(committed))
    assert found == committed


def test_the_search_is_bounded() -> None:
    stored = [port("CP-1", *(f"ST-{i}" for i in range(20)))]
    assert committed_portfolios(stored, FSP, portfolio_hash([]), max_tries=100) is None
