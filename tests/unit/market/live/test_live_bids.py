"""The live barrier's expectations: per congestion point, from the FSPs' EV stays and what the
market and each gateway's log say (the API names a prognosis's signer ``submitter``; reading
``fsp`` there once made every live session wait out its whole ``NO_BID_S``, twice)."""

from __future__ import annotations

import json
from pathlib import Path

from market.live.bids import (
    StayWindow,
    bid_done,
    expected_points,
    log_events,
    no_ev,
    prognoses_in,
    published_points,
)

FSP = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def _prognosis(fsp: str, cp: str) -> dict[str, object]:
    """A row as ``GET /sessions/{id}/prognoses`` gives it."""
    return {"body": {"congestion_point": cp, "fsp": fsp}, "body_hash": "0x", "submitter": fsp}


def _request(rid: str, cp: str) -> dict[str, object]:
    return {"body": {"request_id": rid, "congestion_point": cp}, "submitter": OTHER}


def test_expected_points_are_those_with_an_ev_in_the_delivery_window() -> None:
    windows = [
        StayWindow("cp-a", 100, 200),  # overlaps [150, 250)
        StayWindow("cp-b", 250, 300),  # arrives at the end: not in it
        StayWindow("cp-c", 0, 150),  # leaves at the start: not in it
    ]
    assert expected_points(windows, 150, 250) == {"cp-a"}


def test_published_points_read_the_submitter_and_the_signed_body() -> None:
    rows = [_prognosis(FSP, "cp-a"), _prognosis(OTHER, "cp-b"), _prognosis(FSP.upper(), "cp-c")]
    assert published_points(rows, FSP) == {"cp-a", "cp-c"}  # an address in any case
    assert published_points([{"fsp": FSP, "congestion_point": "cp-a"}], FSP) == set()


def test_prognoses_wait_for_every_expected_point_unless_the_gateway_has_no_ev() -> None:
    assert not prognoses_in({"cp-a", "cp-b"}, {"cp-a"}, [])
    assert prognoses_in({"cp-a", "cp-b"}, {"cp-a", "cp-b", "cp-x"}, [])
    assert prognoses_in(set(), set(), [])
    gave_up = [{"event": "no_bid", "reason": "no_ev", "session_id": "s"}]
    assert no_ev(gave_up) and prognoses_in({"cp-a"}, set(), gave_up)
    assert not no_ev([{"event": "no_bid", "reason": "no_request"}])


def test_a_bid_is_done_when_offered_or_every_request_was_passed_over() -> None:
    reqs = [_request("r1", "cp-a"), _request("r2", "cp-b")]
    assert bid_done({"cp-z"}, reqs, [])  # no EV at a requested point: not waited for
    assert not bid_done({"cp-a"}, reqs, [])
    assert not bid_done({"cp-a"}, reqs, [{"event": "no_bid", "reason": "no_request"}])
    assert bid_done({"cp-a"}, reqs, [{"event": "offered", "offers": 1}])
    partial = {"event": "no_bid", "reason": "no_offer", "requests": {"r1": "price"}}
    assert not bid_done({"cp-a"}, reqs, [partial])  # it had not seen r2 yet
    every = {"event": "no_bid", "reason": "no_offer", "requests": {"r1": "x", "r2": "y"}}
    assert bid_done({"cp-a"}, reqs, [every])


def test_log_events_keep_the_sessions_json_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "fsp-x.log"
    lines = [
        json.dumps({"event": "offered", "session_id": "s1"}),
        "a traceback line",
        "{not json",
        json.dumps({"event": "offered", "session_id": "s2"}),
    ]
    log.write_text("\n".join(lines) + "\n")
    assert log_events(log, "s1") == [{"event": "offered", "session_id": "s1"}]
    assert log_events(tmp_path / "missing.log", "s1") == []
