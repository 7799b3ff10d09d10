"""Bounded JSON: refuse input too deep or too large before the C parser ever sees it.

Why: ``py_ecc`` (imported by the Ethereum stack) raises the recursion limit to 100 000, and
then ``json.loads`` of ~100 000 nested brackets overflows the C stack and kills the process
instead of raising.  Every boundary that parses untrusted JSON (API bodies, OCPP frames,
bundles, API answers) checks here first; :func:`restore_recursion_limit` removes the cause.

The depth scan is linear and never recurses: strings are cut out with one regular
expression, the remaining brackets are mapped to +1/-1 bytes and summed in C.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting any message of this project legitimately has is < 12; 64 leaves room."""
MAX_BYTES = 8 * 1024 * 1024
"""Default size bound; callers with bigger legitimate documents (bundles) pass their own."""
SAFE_RECURSION_LIMIT = 1000
"""CPython's own default: deep enough for every library here, far below the C stack."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN, _CLOSE = b"[{", b"]}"
# Every byte is dropped except brackets; opens become 0x01 (+1), closes 0xFF (-1 as signed).
_KEEP = bytes(range(256)).translate(
    bytes.maketrans(_OPEN + _CLOSE, b"\x01\x01\xff\xff"),
)
_DROP = bytes(b for b in range(256) if b not in _OPEN + _CLOSE)


class JsonLimitError(ValueError):
    """JSON refused before parsing: nested deeper or larger than allowed.

    ``reason`` is ``"too_deep"`` or ``"too_large"``; ``limit`` the bound that was exceeded.
    """

    def __init__(self, reason: str, limit: int, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.limit = limit


def json_depth(data: bytes | str) -> int:
    """Deepest bracket nesting of ``data`` outside strings (0 for a scalar).

    For malformed input (an unterminated string) the result may be too high, never too
    low, so a caller refusing on it only refuses what ``json.loads`` would refuse anyway.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    brackets = _STRING.sub(b"", raw).translate(_KEEP, _DROP)
    return max(accumulate(memoryview(brackets).cast("b")), default=0)


def check_json(
    data: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES
) -> None:
    """Raise :class:`JsonLimitError` if ``data`` is larger or deeper than allowed.

    Cheap for the common case: input with no more opening brackets than ``max_depth`` cannot
    be deeper, so only the bracket counts are taken (about a microsecond per OCPP frame).
    """
    if isinstance(data, str):
        size = len(data) if len(data) * 4 <= max_bytes else len(data.encode())
        opens = data.count("[") + data.count("{")
    else:
        size = len(data)
        opens = data.count(b"[") + data.count(b"{")
    if size > max_bytes:
        raise JsonLimitError(
            "too_large", max_bytes, f"JSON of {size} bytes is larger than {max_bytes} bytes"
        )
    if opens <= max_depth:
        return
    depth = json_depth(data)
    if depth > max_depth:
        raise JsonLimitError(
            "too_deep", max_depth, f"JSON nested {depth} levels deep, more than {max_depth}"
        )


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """``json.loads`` after :func:`check_json`; malformed JSON still raises ``ValueError``."""
    check_json(data, max_depth=max_depth, max_bytes=max_bytes)
    return json.loads(data)


def restore_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> int:
    """Undo ``py_ecc``'s ``sys.setrecursionlimit(100000)``; returns the limit now in force.

    ``py_ecc`` is imported here first (it is cheap and already a dependency of the chain
    stack), so a later lazy import cannot raise the limit again.  A limit already lower
    than ``limit`` is kept.
    """
    with contextlib.suppress(ImportError):
        import py_ecc  # noqa: F401  (raises the limit once, at import)
    sys.setrecursionlimit(min(limit, sys.getrecursionlimit()))
    return sys.getrecursionlimit()
