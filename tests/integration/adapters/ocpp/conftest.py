"""Fixtures for the OCPP integration tests: an ISP-aligned start time and a fast clock."""

from __future__ import annotations

import time

import pytest
from ocpp_testkit import ISP_S, LEAD_S, SPEED

from adapters.clock import SimulatedClock


@pytest.fixture
def t0() -> int:
    """A start time LEAD_S before an ISP boundary (the boundary is ``t0 + LEAD_S``)."""
    return (int(time.time()) // ISP_S + 1) * ISP_S - LEAD_S


@pytest.fixture
def clock(t0: int) -> SimulatedClock:
    return SimulatedClock(start=t0, speed=SPEED)
