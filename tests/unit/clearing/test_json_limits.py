"""Bounded JSON: deep or large input is refused before ``json.loads``; the recursion limit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from clearing.json_limits import (
    MAX_DEPTH,
    SAFE_RECURSION_LIMIT,
    JsonLimitError,
    check_json,
    json_depth,
    loads,
)

NESTED = b"[" * 100_000 + b"]" * 100_000  # the 200 KB payload of issue 14


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]]]]]]", {"k\\"[": "{"}]', 2),  # brackets inside strings do not count
        ('["\\\\", [[]]]', 3),  # an escaped backslash ends the string
    ],
)
def test_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(text.encode()) == depth


def test_the_nested_payload_is_refused_as_too_deep() -> None:
    with pytest.raises(JsonLimitError) as info:
        check_json(NESTED)
    assert info.value.reason == "too_deep"
    assert info.value.limit == MAX_DEPTH
    assert "100000 levels" in str(info.value)


def test_unbalanced_opening_brackets_are_refused_too() -> None:
    with pytest.raises(JsonLimitError, match="levels deep"):
        loads("[" * 100_000)


def test_exactly_max_depth_is_accepted_one_more_is_not() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(ok) is not None
    with pytest.raises(JsonLimitError):
        loads("[" + ok + "]")


def test_large_input_is_refused_by_size_before_scanning() -> None:
    body = json.dumps({"x": "a" * 2000})
    with pytest.raises(JsonLimitError) as info:
        check_json(body, max_bytes=1000)
    assert info.value.reason == "too_large"
    assert info.value.limit == 1000


def test_loads_returns_the_document_and_keeps_json_errors() -> None:
    assert loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(ValueError) as info:
        loads("{not json")
    assert not isinstance(info.value, JsonLimitError)


def test_restore_recursion_limit_makes_deep_json_raise_instead_of_crashing() -> None:
    """In a child process (a segfault fails this test instead of killing pytest)."""
    code = textwrap.dedent(
        """
        import json, sys
        import web3  # pulls in py_ecc, which raises the limit to 100000
        assert sys.getrecursionlimit() >= 100000, sys.getrecursionlimit()
        from clearing.json_limits import restore_recursion_limit
        print(restore_recursion_limit())
        import py_ecc.bn128  # a later lazy import must not raise it again
        try:
            json.loads("[" * 100000 + "]" * 100000)
        except RecursionError:
            print("RecursionError")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(SAFE_RECURSION_LIMIT), "RecursionError"]


def test_many_brackets_inside_strings_are_not_depth() -> None:
    text = json.dumps({"data": "[{" * 10_000, "list": [[1]] * 1000})
    assert loads(text)["list"][0] == [1]
