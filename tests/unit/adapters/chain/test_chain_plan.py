"""Lifecycle plans and the benchmark's grid and fit (pure parts, no chain)."""

from __future__ import annotations

import pytest

from adapters.chain.bench import fit, grid
from adapters.chain.lifecycle import eur, make_plan, staircase_pairs


@pytest.mark.parametrize(("fsps", "requests"), [(1, 1), (5, 1), (5, 10), (50, 10)])
def test_staircase_links_everyone_with_fsps_plus_requests_minus_one_pairs(
    fsps: int, requests: int
) -> None:
    pairs = staircase_pairs(fsps, requests)
    assert len(pairs) == len(set(pairs)) == fsps + requests - 1
    assert {f for _, f in pairs} == set(range(fsps))
    assert {r for r, _ in pairs} == set(range(requests))


def test_plan_reserves_within_budget_and_pays_within_reservations() -> None:
    plan = make_plan(orders=100, fsps=5, requests=10, budget_per_request=10_000_000)
    assert len(plan.orders) == 100
    for j, budget in enumerate(plan.budgets):
        assert sum(a for r, _, a in plan.reservations if r == j) <= budget
    assert all(0 < p <= a for (_, _, a), p in zip(plan.reservations, plan.payouts, strict=True))


def test_plan_refuses_fewer_orders_than_pairs() -> None:
    with pytest.raises(ValueError, match="orders"):
        make_plan(orders=10, fsps=5, requests=10, budget_per_request=1_000)


def test_grid_covers_each_factor_and_drops_infeasible_points() -> None:
    points = grid()
    assert (10, 5, 10) not in points and (10, 50, 1) not in points
    assert {o for o, _, _ in points} == {10, 100, 500}
    assert {f for _, f, _ in points} == {5, 50}
    assert {r for _, _, r in points} == {1, 10}


def test_fit_recovers_known_marginal_costs() -> None:
    runs = [
        {
            "orders": o,
            "fsps": f,
            "requests": r,
            "gas_total": 300_000 + 7 * o + 120_000 * f + 90_000 * r,
        }
        for o, f, r in grid()
    ]
    result = fit(runs)
    assert round(result["fixed"]) == 300_000
    assert round(result["per_order"]) == 7
    assert round(result["per_fsp"]) == 120_000
    assert round(result["per_request"]) == 90_000
    assert result["r2"] == pytest.approx(1.0)


def test_eur_formats_minor_units_exactly() -> None:
    assert eur(1_234_567_891) == "1,234.567891 EUR"
    assert eur(-5) == "-0.000005 EUR"
