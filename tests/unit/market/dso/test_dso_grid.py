"""The gateway's grid: configured elements become points named by the market's codes with
their limits; an element or bus the network lacks is named by its config path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from market.dso.config import DsoConfigError, parse_config
from market.dso.grid import load_dso_grid


def _cfg(points: list[dict[str, Any]], **grid: Any) -> Any:
    return parse_config(
        {
            "api_url": "http://127.0.0.1:8000",
            "rpc_url": "http://127.0.0.1:8545",
            "key_env": "DSO_KEY",
            "grid": {"source": "cigre-lv", **grid},
            "congestion_points": points,
            "budget": {"max_price_per_mwh": 1, "max_budget_units_per_session": 1},
        }
    )


def test_points_carry_the_market_codes_and_limits() -> None:
    grid = load_dso_grid(
        _cfg(
            [
                {"code": "TR-0", "element": "transformer", "index": 0, "limit_pct": 80},
                {"code": "FD-0", "element": "feeder", "index": 2},
            ]
        )
    )
    tr, fd = grid.points
    assert (tr.cp_id, tr.kind, tr.max_loading_pct) == ("TR-0", "transformer", 80.0)
    assert (fd.cp_id, fd.kind, fd.parent_id) == ("FD-0", "feeder", "TR-0")
    # CIGRE LV's static set-points put transformer 0 at ~85 %: over 80 %, a need is found
    needs = grid.forecaster(dt.date(2024, 1, 15)).needs([40])[0]
    assert [(n.cp_id, n.power_w > 0) for n in needs] == [("TR-0", True)]


@pytest.mark.parametrize(
    ("points", "grid", "field"),
    [
        ([{"code": "X", "element": "transformer", "index": 7}], {}, "congestion_points[0].index"),
        (
            [
                {"code": "X", "element": "transformer", "index": 0},
                {"code": "Y", "element": "transformer", "index": 0},
            ],
            {},
            "congestion_points[1].index",
        ),
        (
            [{"code": "X", "element": "transformer", "index": 0}],
            {"flex_buses": ["nope"]},
            "grid.flex_buses[0]",
        ),
        (
            [{"code": "X", "element": "transformer", "index": 0}],
            {"source": "/no/such.json"},
            "grid.source",
        ),
    ],
)
def test_what_the_network_lacks_is_named(
    points: list[dict[str, Any]], grid: dict[str, Any], field: str
) -> None:
    with pytest.raises(DsoConfigError) as exc:
        load_dso_grid(_cfg(points, **grid))
    assert exc.value.field == field
