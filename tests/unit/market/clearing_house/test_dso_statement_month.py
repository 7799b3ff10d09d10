"""A DSO statement's month period: only real calendar months are one."""

from market.clearing_house.dso_statement import month_bounds


def test_a_month_has_its_utc_bounds() -> None:
    assert month_bounds("2026-02") == (1_769_904_000, 1_769_904_000 + 28 * 86_400)


def test_year_zero_and_non_months_are_not_periods() -> None:
    for period in ("0000-01", "2026-13", "2026-00", "26-01", "2026-1"):
        assert month_bounds(period) is None, period
