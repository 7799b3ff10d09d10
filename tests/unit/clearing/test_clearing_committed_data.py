"""The service finds, among its stored prognoses and meters, the preimages an FSP committed."""

from __future__ import annotations

from clearing.commitments import (
    EMPTY_CONTRACT_SET,
    committed_portfolios,
    committed_prognoses,
    contract_set_root,
    portfolio_hash,
    prognosis_hash,
)
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from clearing.settlement.revenue import RevenueShareContract

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
    assert found == (committed, EMPTY_CONTRACT_SET)


def contract(cid: str, incentive_ppm: int = 100_000) -> RevenueShareContract:
    return RevenueShareContract(
        contract_id=cid,
        fsp=FSP,
        ev_user=OTHER,
        cpo=OTHER,
        platform=OTHER,
        user_incentive_mode="percent",
        user_incentive_ppm=incentive_ppm,
        valid_from=0,
        valid_until=10,
    )


def test_the_contract_set_is_folded_into_the_portfolio_hash() -> None:
    """Order-free, sensitive to every term, empty set = EMPTY_CONTRACT_SET; the service finds
    which of the FSP's known sets it committed."""
    a, b = contract("c-a"), contract("c-b")
    assert contract_set_root([a, b]) == contract_set_root([b, a])
    assert contract_set_root([a]) != contract_set_root([contract("c-a", 10_000)])
    assert contract_set_root([]) == EMPTY_CONTRACT_SET
    meters = [port("CP-1", "ST-A")]
    committed = portfolio_hash(meters, contract_set_root([a]))
    assert committed not in (
        portfolio_hash(meters),
        portfolio_hash(meters, contract_set_root([a, b])),
    )
    candidates = [EMPTY_CONTRACT_SET, contract_set_root([a, b]), contract_set_root([a])]
    assert committed_portfolios(meters, FSP, committed, candidates) == (
        meters,
        contract_set_root([a]),
    )
    assert committed_portfolios(meters, FSP, committed) is None  # the set is not a candidate


def test_the_search_is_bounded() -> None:
    stored = [port("CP-1", *(f"ST-{i}" for i in range(20)))]
    assert committed_portfolios(stored, FSP, portfolio_hash([]), max_tries=100) is None


def test_many_contract_sets_do_not_use_up_the_meter_search() -> None:
    """Each posted contract forms a set; the budget counts meter subsets, so a meter dropped
    after the commitment is still found among 200 candidate sets with 4 tries."""
    committed_meters = [port("CP-1", "ST-A", "ST-B")]
    stored = [port("CP-1", "ST-A", "ST-B", "ST-C")]  # ST-C registered after the commitment
    sets = [contract_set_root([contract(f"c-{i}")]) for i in range(200)]
    committed = portfolio_hash(committed_meters, sets[-1])
    found = committed_portfolios(stored, FSP, committed, [EMPTY_CONTRACT_SET, *sets], max_tries=4)
    assert found == (committed_meters, sets[-1])
