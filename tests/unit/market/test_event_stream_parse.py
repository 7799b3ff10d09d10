"""The SSE parser of ``market.event_stream``: well-formed events in, anything else refused."""

from __future__ import annotations

import pytest

from market.event_stream import MarketEventMessage, StreamError, parse_sse


def test_events_comments_and_multiline_data() -> None:
    lines = [": hello", "", "id: 3", "event: order", 'data: {"a":', "data: 1}", "", ": keepalive"]
    assert list(parse_sse(lines)) == [MarketEventMessage(3, "order", {"a": 1})]


@pytest.mark.parametrize(
    "lines",
    [
        ["event: x", "data: {}", ""],  # no id: a client could not resume after it
        ["id: 1", "data: {}", ""],  # no kind
        ["id: 1", "event: x", "data: [1]", ""],  # data not an object
        ["id: 1", "event: x", "data: {", ""],  # data not JSON
        ["id: -1", "event: x", "data: {}", ""],
    ],
)
def test_malformed_events_are_refused(lines: list[str]) -> None:
    with pytest.raises(StreamError):
        list(parse_sse(lines))
