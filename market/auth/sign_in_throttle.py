"""Failed SIWE sign-ins: backoff per claimed address and per client IP, and what an operator sees.

Why: a sign-in costs the server a signature recovery and a database round trip, and a flood of
wrong signatures for one address or from one client is either an attack or a broken client.
The backoff is the CSMS station-login throttle (adapters/ocpp/throttle.py) with wall-clock
time, so the operator's listing can say when each key last failed. It is per process: behind
several API processes each one throttles on its own (the bound scales with their number).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from adapters.ocpp.throttle import LoginThrottle

MAX_LISTED_KEYS = 10_000


@dataclass(frozen=True)
class FailureRecord:
    """Failed sign-ins of one key (``address:0x…`` or ``ip:…``)."""

    key: str
    failures: int
    last_failure_at_s: float
    blocked_for_s: float


class SignInThrottle:
    """Backoff on failed sign-ins: ``free_failures`` per address / per IP, then doubling waits."""

    def __init__(
        self,
        *,
        address_free_failures: int = 5,
        ip_free_failures: int = 20,
        max_delay_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.by_address = LoginThrottle(
            free_failures=address_free_failures, max_delay_s=max_delay_s, clock=clock
        )
        self.by_ip = LoginThrottle(
            free_failures=ip_free_failures, max_delay_s=max_delay_s, clock=clock
        )
        self._last_failure_at_s: OrderedDict[str, float] = OrderedDict()

    def retry_after_s(self, address: str | None, ip: str) -> float:
        """Seconds until this address may try again from this IP (0: now)."""
        wait_s = self.by_ip.retry_after_s(f"ip:{ip}")
        if address is not None:
            wait_s = max(wait_s, self.by_address.retry_after_s(f"address:{address.lower()}"))
        return wait_s

    def failed(self, address: str | None, ip: str) -> float:
        """Record one failed sign-in; returns the longest new wait in seconds."""
        keys = [f"ip:{ip}"]
        delay_s = self.by_ip.failed(keys[0])
        if address is not None:
            keys.append(f"address:{address.lower()}")
            delay_s = max(delay_s, self.by_address.failed(keys[1]))
        now_s = self.clock()
        for key in keys:
            self._last_failure_at_s[key] = now_s
            self._last_failure_at_s.move_to_end(key)
        while len(self._last_failure_at_s) > MAX_LISTED_KEYS:
            self._last_failure_at_s.popitem(last=False)
        return delay_s

    def succeeded(self, address: str) -> None:
        """A good sign-in clears its address's failures (the IP keeps its own)."""
        key = f"address:{address.lower()}"
        self.by_address.succeeded(key)
        self._last_failure_at_s.pop(key, None)

    def recent_failures(self, top: int = 50) -> list[FailureRecord]:
        """The keys with the most failures (addresses and IPs), most failures first."""
        records: list[FailureRecord] = []
        for throttle in (self.by_address, self.by_ip):
            keys = throttle.status(top)["keys"]
            assert isinstance(keys, dict)
            for key, entry in keys.items():
                records.append(
                    FailureRecord(
                        key=key,
                        failures=int(entry["failures"]),
                        last_failure_at_s=self._last_failure_at_s.get(key, 0.0),
                        blocked_for_s=float(entry["blocked_for_s"]),
                    )
                )
        records.sort(key=lambda r: (-r.failures, -r.last_failure_at_s))
        return records[:top]
