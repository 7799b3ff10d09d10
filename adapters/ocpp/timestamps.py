"""Station timestamps: strict RFC 3339 parsing, and every ``date-time`` field of a request.

Why: the OCPP schemas type timestamps as ``"format": "date-time"`` but the ``ocpp`` library
does not check formats, so "yesterday" reached the handlers and crashed the connection. Each
incoming request's date-time fields are checked here before anything is stored; what passes
is exactly what :func:`parse_rfc3339` can turn into Unix seconds.

RFC 3339 (section 5.6) allows lower-case ``t`` and ``z`` and a leap second (``:60``); a
leap second only ends a UTC day, and maps to the POSIX second after it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from ocpp.messages import MessageType

from adapters.ocpp.schemas import library_schema

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
_SECONDS_PER_DAY = 86_400
_Path = tuple[str, ...]  # property names; "*" stands for every item of an array


class TimestampError(ValueError):
    """A value that is not an RFC 3339 date-time."""


def parse_rfc3339(value: str) -> int:
    """RFC 3339 date-time -> Unix seconds (fractions truncated); TimestampError if not one."""
    if not isinstance(value, str):
        raise TimestampError(f"{value!r} is not an RFC 3339 date-time")
    return _parse(value)


@lru_cache(maxsize=4096)  # clock-aligned samples of many stations share their timestamps
def _parse(value: str) -> int:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise TimestampError(f"{value!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset_s = 0
    if match.group(8) is None:
        offset_h, offset_m = int(match.group(10)), int(match.group(11))
        if offset_h > 23 or offset_m > 59:
            raise TimestampError(f"{value!r}: offset out of range")
        offset_s = (offset_h * 60 + offset_m) * 60 * (1 if match.group(9) == "+" else -1)
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour <= 23
        and minute <= 59
        and second <= 60
    ):
        raise TimestampError(f"{value!r}: date or time out of range")
    unix = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset_s
    if second == 60 and unix % _SECONDS_PER_DAY != 0:  # 23:59:60 UTC becomes next 00:00:00
        raise TimestampError(f"{value!r}: a leap second only ends a UTC day")
    return unix


def check_timestamps(ocpp_version: str, action: str, payload: Any) -> None:
    """Raise TimestampError naming the first date-time field of a request that is not one."""
    for path in _date_time_paths(ocpp_version, action):
        for where, value in _values_at(payload, path, action):
            try:
                parse_rfc3339(value)
            except TimestampError as exc:
                raise TimestampError(f"{where}: {exc}") from None


@lru_cache(maxsize=512)
def _date_time_paths(ocpp_version: str, action: str) -> tuple[_Path, ...]:
    """Where the request schema of ``action`` puts date-time strings (read once per action)."""
    schema = library_schema(MessageType.Call, action, ocpp_version)
    if schema is None:
        return ()
    found: list[_Path] = []
    _walk(schema, schema, (), found, frozenset())
    return tuple(found)


def _walk(
    node: Any, root: dict[str, Any], path: _Path, found: list[_Path], refs: frozenset[str]
) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in refs:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        _walk(target, root, path, found, refs | {ref})
    if node.get("format") == "date-time":
        found.append(path)
    for name, sub in (node.get("properties") or {}).items():
        _walk(sub, root, (*path, name), found, refs)
    _walk(node.get("items"), root, (*path, "*"), found, refs)


def _values_at(data: Any, path: _Path, where: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield where, data
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(data, list):
            for i, item in enumerate(data):
                yield from _values_at(item, rest, f"{where}[{i}]")
    elif isinstance(data, dict) and head in data:
        yield from _values_at(data[head], rest, f"{where}.{head}")
