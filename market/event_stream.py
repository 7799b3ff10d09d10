"""Client side of ``GET /events``: parse server-sent events and follow them across reconnects.

Why here and not in ``client.py``: the participant gateways block on this stream for hours;
reconnecting with ``Last-Event-ID`` after a dropped connection (or a restarted API process) is
what keeps them from missing an order, and it is easier to test on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

MAX_LINE_CHARS = 4 * 1024 * 1024  # one order's JSON is far smaller; more is a broken stream
#: The server sends a comment every 15 s of silence: a minute without a byte is a dead peer.
STREAM_TIMEOUT = httpx.Timeout(30.0, read=60.0)


@dataclass(frozen=True)
class MarketEventMessage:
    """One event of the stream: its id (resume point), kind and JSON data."""

    id: int
    event: str
    data: dict[str, Any]


class StreamError(Exception):
    """The stream sent something that is not a well-formed market event."""


def parse_sse(lines: Iterable[str]) -> Iterator[MarketEventMessage]:
    """Events from SSE lines (comments skipped); each needs an id, a kind and JSON data."""
    fields: dict[str, str] = {}
    for line in lines:
        if len(line) > MAX_LINE_CHARS:
            raise StreamError(f"line of {len(line)} characters")
        if line == "":
            if fields:
                yield _event(fields)
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
    if fields:
        yield _event(fields)


def _event(fields: dict[str, str]) -> MarketEventMessage:
    raw_id, kind, raw_data = fields.get("id", ""), fields.get("event", ""), fields.get("data")
    if not raw_id.isdigit() or not kind or raw_data is None:
        raise StreamError(f"incomplete event: {sorted(fields)}")
    try:
        data = json.loads(raw_data)
    except ValueError as exc:
        raise StreamError(f"event {raw_id}: data is not JSON") from exc
    if not isinstance(data, dict):
        raise StreamError(f"event {raw_id}: data is not an object")
    return MarketEventMessage(int(raw_id), kind, data)


def follow(
    http: httpx.Client,
    *,
    after: int = 0,
    session_id: str | None = None,
    fsp: str | None = None,
    reconnect: bool = True,
    retry_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[MarketEventMessage]:
    """Every event after ``after``, live; on a dropped connection, resume from the last id.

    Stops only when the caller stops iterating, or (``reconnect=False``) when the server
    closes the stream. An HTTP error answer (4xx/5xx) is raised, not retried.
    """
    last = after
    params = {k: v for k, v in (("session_id", session_id), ("fsp", fsp)) if v}
    while True:
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
        try:
            with http.stream(
                "GET", "/events", params=params, headers=headers, timeout=STREAM_TIMEOUT
            ) as response:
                response.raise_for_status()
                for message in parse_sse(response.iter_lines()):
                    last = message.id
                    yield message
        except (httpx.TransportError, httpx.RemoteProtocolError):
            if not reconnect:
                raise
        else:
            if not reconnect:
                return
        sleep(retry_s)
