"""Failed station logins: exponential backoff per station id and per address, and counts.

Why: a station password is the only thing between the internet and a charger's setpoints;
without throttling it can be guessed at network speed. After ``free_failures`` failures a
key (a station id, or an address in a second throttle) is refused without checking the password for
``base_delay_s * 2**(n - free_failures)`` seconds, capped at ``max_delay_s``. A station that
is already connected keeps its connection; only new logins wait.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Failures:
    """Failed logins of one key and until when new logins are refused."""

    count: int = 0
    last_s: float = 0.0
    blocked_until_s: float = 0.0


class LoginThrottle:
    """Per-key backoff; keys unused for ``forget_after_s`` (or beyond ``max_keys``) expire."""

    def __init__(
        self,
        *,
        free_failures: int = 3,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        forget_after_s: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, Failures] = OrderedDict()
        self.total_failures = 0
        self.total_throttled = 0

    def _get(self, key: str, now_s: float) -> Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now_s - entry.last_s > self.forget_after_s:
            del self._keys[key]
            return None
        return entry

    def retry_after_s(self, *keys: str) -> float:
        """Seconds until a login on all ``keys`` may be tried (0: now); counts refusals."""
        now_s = self.clock()
        wait_s = 0.0
        for key in keys:
            entry = self._get(key, now_s)
            if entry is not None:
                wait_s = max(wait_s, entry.blocked_until_s - now_s)
        if wait_s > 0:
            self.total_throttled += 1
        return max(0.0, wait_s)

    def failed(self, *keys: str) -> float:
        """Record one failed login on every key; return the longest new delay."""
        now_s = self.clock()
        self.total_failures += 1
        delay_s = 0.0
        for key in keys:
            entry = self._get(key, now_s) or Failures()
            entry.count += 1
            entry.last_s = now_s
            over = entry.count - self.free_failures
            if over >= 0:
                step_s = self.base_delay_s * 2.0 ** min(over, 32)
                entry.blocked_until_s = now_s + min(self.max_delay_s, step_s)
                delay_s = max(delay_s, entry.blocked_until_s - now_s)
            self._keys[key] = entry
            self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return delay_s

    def succeeded(self, key: str) -> None:
        """A correct login clears that key's failures (the address keeps its own)."""
        self._keys.pop(key, None)

    def status(self, top: int = 20) -> dict[str, object]:
        """What an operator needs: totals and the keys with the most failures."""
        now_s = self.clock()
        worst = sorted(self._keys.items(), key=lambda kv: -kv[1].count)[:top]
        return {
            "failed_logins": self.total_failures,
            "throttled_logins": self.total_throttled,
            "keys": {
                key: {
                    "failures": entry.count,
                    "blocked_for_s": round(max(0.0, entry.blocked_until_s - now_s), 1),
                }
                for key, entry in worst
            },
        }
