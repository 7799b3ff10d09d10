"""docs/SECURITY.md names a test for every threat, and every named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SECURITY.md"
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _threat_rows() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Threats and the tests that cover them", 1)[1].split("\n## ", 1)[0]
    return [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_every_threat_row_names_a_test() -> None:
    rows = _threat_rows()
    assert len(rows) >= 20
    assert [row for row in rows if not NAMED_TEST.search(row)] == []


def test_every_named_test_exists() -> None:
    missing = []
    for path, name in NAMED_TEST.findall(DOC.read_text(encoding="utf-8")):
        file = ROOT / path
        if not file.is_file() or not re.search(
            rf"^(async )?def {name}\(", file.read_text(encoding="utf-8"), re.M
        ):
            missing.append(f"{path}::{name}")
    assert missing == []
