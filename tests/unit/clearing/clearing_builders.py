"""Small-bundle builders for the clearing tests (ISP = 900 s, so energy = power / 4)."""

from __future__ import annotations

import uuid
from typing import Any

from clearing.bundle import InputBundle

EUR = 1_000_000
SESSION = "00000000-0000-4000-8000-000000000000"
FSP_A = "0x" + "a" * 40
FSP_B = "0x" + "b" * 40


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


def request(
    name: str,
    cp: str = "A",
    direction: str = "UP",
    isps: dict[int, tuple[int, int]] | None = None,
    price_eur: int = 200,
    budget_units: int = 10**12,
    aon: bool = False,
) -> dict[str, Any]:
    isps = isps or {0: (0, 100_000)}
    return {
        "request_id": uid(name),
        "session_id": SESSION,
        "congestion_point": cp,
        "direction": direction,
        "revision": 0,
        "expires_at": 1_000,
        "max_price_per_mwh": price_eur * EUR,
        "budget_units": budget_units,
        "all_or_nothing": aon,
        "isps": [
            {"isp_index": t, "disposition": "Requested", "min_power_w": mn, "max_power_w": mx}
            for t, (mn, mx) in sorted(isps.items())
        ],
    }


def option(
    ref: str,
    isps: dict[int, int],
    price_eur: int,
    min_ppm: int = 1_000_000,
    rebound: dict[int, int] | None = None,
) -> dict[str, Any]:
    return {
        "option_ref": ref,
        "isps": [{"isp_index": t, "power_w": p} for t, p in sorted(isps.items())],
        "price_per_mwh": price_eur * EUR,
        "min_activation_ppm": min_ppm,
        "rebound": [{"isp_index": t, "power_w": p} for t, p in sorted((rebound or {}).items())],
    }


def offer(
    name: str,
    options: list[dict[str, Any]],
    cp: str = "A",
    direction: str = "UP",
    fsp: str = FSP_A,
    request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "offer_id": uid(name),
        "session_id": SESSION,
        "fsp": fsp,
        "request_id": request_id,
        "congestion_point": cp,
        "direction": direction,
        "expires_at": 1_000,
        "options": options,
    }


def bundle(
    requests: list[dict[str, Any]],
    offers: list[dict[str, Any]],
    cps: list[dict[str, Any]] | None = None,
    rule: str = "pay_as_bid",
    isp_count: int = 4,
) -> InputBundle:
    return InputBundle.model_validate(
        {
            "session_id": SESSION,
            "isp_s": 900,
            "isp_count": isp_count,
            "start_time": 0,
            "congestion_points": cps or [{"code": "A"}],
            "requests": requests,
            "offers": offers,
            "rules": {"pricing_rule": rule, "time_limit_s": 30, "mip_gap_ppm": 0},
        }
    )
