"""One bundle with many errors yields every one of them, by path; nothing is cleared."""

from __future__ import annotations

import json

import pytest
from clearing_builders import SESSION, offer, option, request, uid

from clearing.bundle import INPUT_BUNDLE_SCHEMA_PATH, input_bundle_json_schema
from clearing.engine import clear
from clearing.validation import BundleValidationError, validate_bundle


def _bad_bundle() -> dict:  # type: ignore[type-arg]
    r0 = request("r0", isps={0: (50_000, 10_000)})  # min > max
    r1 = request("r1", cp="NOWHERE", isps={7: (0, 1_000)})  # unknown point, ISP outside
    o_neg = offer("o0", [option("x", {0: -5}, 50)])  # negative power
    o_zero = offer("o1", [option("x", {0: 0}, 50)])  # no positive power
    o_unknown_req = offer("o2", [option("x", {0: 1_000}, 50)], request_id=uid("missing"))
    o_dup = offer("o2", [option("x", {0: 1_000}, 50)])  # duplicate offer id
    o_ppm_low = offer("o3", [option("x", {0: 1_000}, 50, min_ppm=0)])
    o_ppm_high = offer("o4", [option("x", {0: 1_000}, 50, min_ppm=1_000_001)])
    o_price = offer("o5", [option("x", {0: 1_000}, 10**7)])  # 1e13 units/MWh: overflow bound
    o_isp = offer("o6", [option("x", {9: 1_000}, 50, rebound={12: 10})])
    return {
        "session_id": SESSION,
        "isp_s": 900,
        "isp_count": 4,
        "start_time": 0,
        "congestion_points": [{"code": "A"}, {"code": "B", "parent": "GHOST"}],
        "requests": [r0, r1],
        "offers": [o_neg, o_zero, o_unknown_req, o_dup, o_ppm_low, o_ppm_high, o_price, o_isp],
        "rules": {"pricing_rule": "pay_as_bid", "time_limit_s": 10, "mip_gap_ppm": 0},
    }


def test_every_problem_is_reported_by_path() -> None:
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(_bad_bundle())
    paths = {p.path for p in info.value.problems}
    expected = {
        "$.requests[0].isps[0]",  # min > max
        "$.requests[1].congestion_point",
        "$.requests[1].isps[0].isp_index",
        "$.offers[0].options[0].isps[0].power_w",
        "$.offers[1].options[0]",
        "$.offers[2].request_id",
        "$.offers[3].offer_id",
        "$.offers[4].options[0].min_activation_ppm",
        "$.offers[5].options[0].min_activation_ppm",
        "$.offers[6].options[0].price_per_mwh",
        "$.offers[7].options[0].isps[0].isp_index",
        "$.offers[7].options[0].rebound[0].isp_index",
        "$.congestion_points[1].parent",
    }
    assert expected <= paths, expected - paths
    reasons = {p.path: p.reason for p in info.value.problems}
    assert "min_power_w" in reasons["$.requests[0].isps[0]"]
    assert "duplicate" in reasons["$.offers[3].offer_id"]
    assert "outside the session" in reasons["$.offers[7].options[0].isps[0].isp_index"]


def test_nothing_is_cleared_from_a_bad_bundle() -> None:
    with pytest.raises(BundleValidationError):
        clear(_bad_bundle())


def test_top_level_errors_and_floats() -> None:
    raw = _bad_bundle() | {"isp_count": 4.0, "start_time": -1, "extra": 1}
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(raw)
    paths = {p.path for p in info.value.problems}
    assert {"$.isp_count", "$.start_time", "$.extra"} <= paths


def test_offer_request_must_be_above_the_offer() -> None:
    raw = _bad_bundle()
    raw["requests"] = [request("r", cp="B")]
    raw["congestion_points"] = [{"code": "A"}, {"code": "B"}]
    raw["offers"] = [offer("o", [option("x", {0: 1_000}, 50)], cp="A", request_id=uid("r"))]
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(raw)
    assert [p.path for p in info.value.problems] == ["$.offers[0].request_id"]


def test_published_schema_is_current() -> None:
    on_disk = json.loads(INPUT_BUNDLE_SCHEMA_PATH.read_text())
    assert on_disk == json.loads(json.dumps(input_bundle_json_schema()))
