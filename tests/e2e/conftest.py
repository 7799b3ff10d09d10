"""Replays are expensive: each UC scenario runs once per test session and its report is shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from replay_cases import SCENARIOS

from market.replay.runner import ReplayOptions, run_replay


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory):
    """``replayed(name)`` -> (report dict, report folder); each scenario runs at most once."""
    cache: dict[str, tuple[dict[str, Any], Path]] = {}

    def run(name: str) -> tuple[dict[str, Any], Path]:
        if name not in cache:
            folder = tmp_path_factory.mktemp(name)
            report = run_replay(SCENARIOS / f"{name}.yaml", ReplayOptions(report_dir=folder))
            cache[name] = (report, folder)
        return cache[name]

    return run
