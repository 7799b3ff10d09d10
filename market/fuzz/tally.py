"""What a fuzz run saw: requests by status class, every 5xx and every crash (no answer at all).

Why a tally and not an assertion per request: a long run should report every server error it
finds, not stop at the first one.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_LISTED = 50


@dataclass
class FuzzTally:
    """Counts of one run; ``server_errors`` and ``crashes`` keep the first ``MAX_LISTED``."""

    started_s: float = field(default_factory=time.monotonic)
    requests: int = 0
    unsent: int = 0
    by_status_class: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)

    def record(self, label: str, status: int, detail: str = "") -> None:
        self.requests += 1
        self.by_status_class[f"{status // 100}xx"] += 1
        self.by_operation[label] += 1
        if status < 300:
            self.accepted[label] += 1
        if status >= 500 and len(self.server_errors) < MAX_LISTED:
            self.server_errors.append(f"{label} -> {status} {detail[:200]}")

    def crashed(self, label: str, exc: BaseException) -> None:
        self.requests += 1
        if len(self.crashes) < MAX_LISTED:
            self.crashes.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
        else:
            self.crashes.append("...")

    def summary(self) -> dict[str, Any]:
        """The one JSON object ``flexmarket bench fuzz`` prints."""
        return {
            "requests": self.requests,
            "by_status_class": dict(sorted(self.by_status_class.items())),
            "server_errors_5xx": self.by_status_class.get("5xx", 0),
            "crashes": len(self.crashes),
            "unsent": self.unsent,
            "operations": len(self.by_operation),
            "duration_s": round(time.monotonic() - self.started_s, 2),
            "money_path_accepted": {
                label: n for label, n in sorted(self.accepted.items()) if "(" in label
            },
            "first_server_errors": self.server_errors[:10],
            "first_crashes": self.crashes[:10],
        }


class TalliedHttp:
    """An httpx client that records every answer (and every transport failure) in a tally."""

    def __init__(self, base_url: str, tally: FuzzTally, *, timeout_s: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.tally = tally

    def call(
        self,
        method: str,
        path: str,
        *,
        label: str,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            response = self.http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self.tally.crashed(label, exc)
            return None
        self.tally.record(label, response.status_code, response.text)
        return response

    def close(self) -> None:
        self.http.close()
