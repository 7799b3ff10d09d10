"""The gateway's config refusals (each named by its path) and its pure choices: which
sessions count as intraday, and which requests fit the per-session budget cap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from clearing.messages import FlexRequest, RequestIsp
from market.dso.config import DsoConfigError, load_config, parse_config
from market.dso.gateway import session_kind, within_budget


def _base(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "api_url": "http://127.0.0.1:8000",
        "rpc_url": "http://127.0.0.1:8545",
        "key_env": "DSO_KEY",
        "grid": {"source": "cigre-lv", "profile_date": "2024-01-15"},
        "congestion_points": [{"code": "CP-1", "element": "feeder", "index": 3}],
        "budget": {"max_price_per_mwh": 250_000_000, "max_budget_units_per_session": 10**9},
    }
    cfg.update(over)
    return cfg


def test_a_valid_config_keeps_its_values_and_defaults() -> None:
    cfg = parse_config(_base())
    assert cfg.grid.profile_date == dt.date(2024, 1, 15)
    assert cfg.congestion_points[0].limit_pct == 100
    assert cfg.schedule.day_ahead and not cfg.schedule.intraday
    assert cfg.schedule.intraday_gate_before_delivery_s == 900
    assert cfg.requests.approval == "auto"  # today's behaviour: escrow and post
    assert parse_config(_base(requests={"approval": "manual"})).requests.approval == "manual"


@pytest.mark.parametrize(
    ("over", "field", "reason"),
    [
        ({"api_url": "localhost:8000"}, "api_url", "should match pattern"),
        ({"key_env": "0x1234"}, "key_env", "should match pattern"),
        (
            {"budget": {"max_price_per_mwh": 0, "max_budget_units_per_session": 1}},
            "budget.max_price_per_mwh",
            "greater than 0",
        ),
        (
            {"budget": {"max_price_per_mwh": "1", "max_budget_units_per_session": 1}},
            "budget.max_price_per_mwh",
            "valid integer",
        ),
        ({"congestion_points": []}, "congestion_points", "at least 1"),
        (
            {"congestion_points": [{"code": "A", "element": "cable", "index": 1}]},
            "congestion_points[0].element",
            "'transformer' or 'feeder'",
        ),
        (
            {"congestion_points": [{"code": "A", "element": "feeder", "index": 1}] * 2},
            "congestion_points[1].code",
            "'A' is repeated",
        ),
        ({"schedule": {"day_ahead": False}}, "schedule", "enable day_ahead or intraday"),
        (
            {"grid": {"source": "cigre-lv", "profile_date": "15/01/2024"}},
            "grid.profile_date",
            "valid date",
        ),
        ({"private_key": "0xabc"}, "private_key", "Extra inputs are not permitted"),
        ({"requests": {"approval": "ask"}}, "requests.approval", "'manual' or 'auto'"),
    ],
)
def test_a_bad_setting_is_named_by_its_path(over: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(DsoConfigError) as exc:
        parse_config(_base(**over))
    assert exc.value.field == field
    assert reason in exc.value.reason


def test_a_file_that_is_not_a_mapping_or_not_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dso.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(DsoConfigError, match=r"^config: must be a mapping"):
        load_config(path)
    path.write_text("api_url: [unclosed\n")
    with pytest.raises(DsoConfigError) as exc:
        load_config(path)
    assert exc.value.field == "--config" and "not YAML" in exc.value.reason
    with pytest.raises(DsoConfigError, match=r"^--config: cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_intraday_is_a_gate_at_most_the_threshold_before_delivery() -> None:
    row = {"gate_closure": 10_000, "delivery_start": 10_900}
    assert session_kind(row, 900) == "intraday"
    assert session_kind(row, 899) == "day_ahead"
    assert session_kind({"gate_closure": 0, "delivery_start": 86_400}, 900) == "day_ahead"


def _request(budget_units: int) -> FlexRequest:
    return FlexRequest(
        request_id="3f0c8c1e-0000-4000-8000-00000000000" + str(budget_units % 10),
        session_id="3f0c8c1e-0000-4000-8000-000000000000",
        congestion_point="CP-1",
        direction="UP",
        revision=0,
        expires_at=1_000,
        max_price_per_mwh=1,
        budget_units=budget_units,
        all_or_nothing=False,
        isps=(RequestIsp(isp_index=0, disposition="Requested", min_power_w=1, max_power_w=2),),
    )


def test_requests_past_the_session_cap_are_dropped_in_order() -> None:
    reqs = [_request(5), _request(7), _request(3)]
    kept, dropped = within_budget(reqs, 9)
    assert [r.budget_units for r in kept] == [5, 3] and dropped == 1
    assert within_budget(reqs, 15) == (reqs, 0)
