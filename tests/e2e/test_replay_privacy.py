"""What a replay publishes carries no EV user's personal data: every published bundle
(``bundles/**/*.json``) and ``report.json`` of each use-case replay is scanned for the
scenario's personal fields, which are the users' ids (their names, e.g. ``alessandro``), the
EV ids (the plates of the scenario) and exact arrival, departure and booking times. EV users
appear only under their seed-salted pseudonyms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replay_cases import SCENARIOS, UC_SCENARIOS

from market.replay.derive import pseudonym
from market.replay.scenario import Scenario, load_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

# a key that would carry an exact time of a stay or a trip
TIME_KEY = re.compile(r"arrival|departure|depart\b|back\b|booking", re.IGNORECASE)
ALLOWED_TIME_KEYS = {"departure_isp_start", "departure_commitment"}


def _identifiers(sc: Scenario) -> set[str]:
    users = {ev.user for ev in sc.evs if ev.user} | {b.user for b in sc.bookings}
    return users | {ev.id for ev in sc.evs} | {b.ev for b in sc.bookings}


def _items(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of a JSON document, keys of objects included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key), value
            yield from _items(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _items(value, f"{path}[{i}]")


def _published(folder: Path) -> list[Path]:
    return [*sorted((folder / "bundles").rglob("*.json")), folder / "report.json"]


def _leaks(path: Path, sc: Scenario) -> list[str]:
    text = path.read_text()
    found = []
    for ident in sorted(_identifiers(sc)):
        if re.search(rf"(?<![\w-]){re.escape(ident)}(?![\w-])", text):
            found.append(f"{path.name}: {ident!r}")
    for where, key, value in _items(json.loads(text)):
        if TIME_KEY.search(key) and key not in ALLOWED_TIME_KEYS:
            found.append(f"{path.name}: {where}.{key} = {value!r}")
    return found


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_published_bundles_and_report_carry_no_personal_data(replayed: Any, name: str) -> None:
    report, folder = replayed(name)
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    published = _published(folder)
    assert len(published) > 5 and all(p.is_file() for p in published)
    leaks = [leak for path in published for leak in _leaks(path, sc)]
    assert leaks == []
    # the EV users who were paid appear under their seed-salted pseudonyms, the same each run
    named = {pseudonym(sc.seed, "ev-user", ev.user) for ev in sc.evs if ev.user}
    paid = {p for s in report["sessions"].values() for p in s.get("payments", {})}
    assert bool(paid & named) == bool(sc.contracts), (paid, named)
    isp_s = sc.period.isp_s
    for session in report["sessions"].values():
        for v in session["soc_violations"]:
            assert v["departure_isp_start"] % isp_s == 0
            assert re.fullmatch(r"0x[0-9a-f]{64}", v["departure_commitment"])
