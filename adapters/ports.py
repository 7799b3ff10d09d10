"""A free TCP port for a server this process is about to start (anvil, a role's API, a CSMS).

Why not ``bind(("127.0.0.1", 0))`` and hand the port on: the kernel picks that port from the
ephemeral range, the same range every outgoing connection's local port comes from. Between
closing the probe socket and the server's own bind, any client on the machine (a database
pool, an RPC call) may take it, and the server dies with EADDRINUSE; under a loaded test run
this happened. Ports below the ephemeral range are never handed out implicitly, so only
another explicit pick can collide: the range is split per pytest-xdist worker, the pick is
random (a subprocess picks apart from its parent) and each is probed before it is returned.
"""

from __future__ import annotations

import os
import random
import socket
import threading

LOW_PORT = 10_000
_given: set[int] = set()
_lock = threading.Lock()


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out implicitly (Linux's ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _worker_slice(low: int, high: int) -> tuple[int, int]:
    """This pytest-xdist worker's share of [low, high): workers never pick the same port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return low, high
    index = int(worker[2:]) % count
    width = (high - low) // count
    return low + index * width, low + (index + 1) * width


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now, below the ephemeral range, never returned twice here."""
    floor = _ephemeral_floor()
    low, high = _worker_slice(LOW_PORT, max(floor, LOW_PORT + 2))
    rng = random.SystemRandom()
    with _lock:
        for _ in range(200 if floor - LOW_PORT >= 1_000 else 0):  # no room: the kernel's pick
            port = rng.randrange(low, high)
            if port not in _given and _bindable(host, port):
                _given.add(port)
                return port
    # a machine whose low ports are all taken: fall back on the kernel's pick
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
