"""The annotated scenario in the README is complete and valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from market.replay.scenario import parse_scenario

README = Path(__file__).resolve().parents[4] / "README.md"


def test_readme_scenario_example_validates() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Scenarios", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "README has no yaml example under '## Scenarios'"
    scenario = parse_scenario(yaml.safe_load(block.group(1)), source="README.md")
    assert scenario.name == "readme-example"
    assert scenario.stations and scenario.evs and scenario.sessions
