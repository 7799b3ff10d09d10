"""docs/SECURITY.md names a test for every threat, and every named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SECURITY.md"
# A pytest test (`tests/...py::name`) or a Foundry test (`contracts/test/...t.sol::name`).
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py|contracts/test/[\w/]+\.t\.sol)::(\w+)`")
ANY_TEST = re.compile(r"`(tests/[\w/]+\.py|contracts/test/[\w/]+\.t\.sol)?::(\w+)`")
DEFINITION = {".py": r"^(async )?def {name}\(", ".sol": r"^\s*function {name}\("}


def _threat_rows() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Threats and the tests that cover them", 1)[1].split("\n## ", 1)[0]
    return [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_every_threat_row_names_a_test() -> None:
    rows = _threat_rows()
    assert len(rows) >= 20
    assert [row for row in rows if not NAMED_TEST.search(row)] == []


def _named_tests() -> list[tuple[str, str]]:
    """Every ``path::name``; a bare ``::name`` after it in the same row means the same file."""
    named = []
    for row in _threat_rows():
        path = ""
        for given, name in ANY_TEST.findall(row):
            path = given or path
            named.append((path, name))
    return named


def test_every_named_test_exists() -> None:
    missing = []
    for path, name in _named_tests():
        file = ROOT / path
        if not file.is_file() or not re.search(
            DEFINITION[file.suffix].format(name=name), file.read_text(encoding="utf-8"), re.M
        ):
            missing.append(f"{path}::{name}")
    assert missing == []
