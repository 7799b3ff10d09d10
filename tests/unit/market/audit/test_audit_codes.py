"""Every code the auditor can report is declared, with its meaning, in market/audit/codes.py."""

from __future__ import annotations

import re
from pathlib import Path

import market.audit
from market.audit.codes import ERROR_CODES, FINDING_CODES

PREFIXES = (
    "bundle|offers|receipts|clearing|requests|reservations|delivery|money|lifecycle|registry"
    "|dispute|audit|sessions|uftp"
)
CODE = re.compile(rf'"((?:{PREFIXES})\.[a-z_]+)"')


def test_every_reported_code_is_declared() -> None:
    folder = Path(market.audit.__file__).parent
    used = {
        code
        for path in folder.glob("*.py")
        if path.name != "codes.py"
        for code in CODE.findall(path.read_text())
        if not code.endswith(".json")
    }
    assert used, "no codes found: the pattern is stale"
    assert used - set(FINDING_CODES) - set(ERROR_CODES) == set()
    assert not set(FINDING_CODES) & set(ERROR_CODES)
