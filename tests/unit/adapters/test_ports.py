"""free_port picks below the kernel's ephemeral range (where no client's local port lands), in
this pytest-xdist worker's own slice, and never hands the same port out twice."""

from __future__ import annotations

import socket

import pytest

from adapters import ports


def test_ports_are_below_the_ephemeral_range_bindable_and_distinct() -> None:
    floor = ports._ephemeral_floor()
    picked = [ports.free_port() for _ in range(50)]
    assert len(set(picked)) == 50
    for port in picked:
        assert ports.LOW_PORT <= port < floor
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when handed out


def test_a_bound_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        held.listen()
        monkeypatch.setattr(ports, "_worker_slice", lambda low, high: (taken, taken + 2))
        monkeypatch.setattr(ports, "_given", set())
        assert ports.free_port() == taken + 1


def test_xdist_workers_pick_from_disjoint_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    first = ports._worker_slice(10_000, 30_000)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    second = ports._worker_slice(10_000, 30_000)
    assert first == (10_000, 20_000) and second == (20_000, 30_000)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert ports._worker_slice(10_000, 30_000) == (10_000, 30_000)


def test_a_machine_without_room_below_the_ephemeral_range_gets_the_kernels_pick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "_ephemeral_floor", lambda: 1_024)
    port = ports.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
