"""One SimBench grid per test session: loading it takes seconds, its profiles are large."""

from __future__ import annotations

import pytest

from adapters.grid.model import DEFAULT_SIMBENCH_CODE, GridModel, load_grid


@pytest.fixture(scope="session")
def simbench() -> GridModel:
    return load_grid(DEFAULT_SIMBENCH_CODE)
