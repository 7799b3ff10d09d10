"""Builders for settlement tests: station keys, signed register readings from power profiles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from eth_account import Account

from clearing.encoding import keccak256
from clearing.messages import DPrognosis, FlexOrder
from clearing.settlement.delivery import (
    DeliveryInputs,
    Portfolio,
    RequestBudget,
    Reservation,
)
from clearing.settlement.meter import MeterRef, SignedMeterReading, sign_reading

ISP_S = 900
SESSION_START = 1_767_225_600  # 2026-01-01T00:00:00Z
SESSION_ID = "6f1d3c52-6a0e-4d1b-9a55-0d2c3e4f5a61"
FSP = "0x" + "ab" * 20
CP = "ean.871685900000000001"


def key_of(name: str) -> str:
    return "0x" + keccak256(f"station-key:{name}".encode()).hex()


def address_of(name: str) -> str:
    return Account.from_key(key_of(name)).address.lower()


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flexmarket-test:{name}"))


def profile_readings(
    station: str,
    evse: int,
    start_ts: int,
    powers_w: Sequence[int],
    *,
    import_wh: int = 100_000,
    export_wh: int = 0,
    isp_s: int = ISP_S,
) -> list[SignedMeterReading]:
    """Signed readings at every ISP boundary for a constant power per ISP (+ import, - export)."""
    key = key_of(station)
    out = [
        sign_reading(
            key,
            station=station,
            evse=evse,
            timestamp=start_ts,
            import_wh=import_wh,
            export_wh=export_wh,
        )
    ]
    for i, p in enumerate(powers_w):
        energy = abs(p) * isp_s // 3600
        if p >= 0:
            import_wh += energy
        else:
            export_wh += energy
        out.append(
            sign_reading(
                key,
                station=station,
                evse=evse,
                timestamp=start_ts + (i + 1) * isp_s,
                import_wh=import_wh,
                export_wh=export_wh,
            )
        )
    return out


def make_order(
    name: str,
    *,
    isps: dict[int, int],
    price_per_mwh: int,
    payment_cap_units: int,
    direction: str = "UP",
    fsp: str = FSP,
    request: str = "request-1",
    cp: str = CP,
) -> FlexOrder:
    return FlexOrder.model_validate(
        {
            "order_id": uid(name),
            "session_id": SESSION_ID,
            "offer_id": uid(f"offer-{name}"),
            "option_ref": "A",
            "fsp": fsp,
            "request_id": uid(request),
            "congestion_point": cp,
            "direction": direction,
            "activation_ppm": 1_000_000,
            "isps": [{"isp_index": i, "power_w": p} for i, p in sorted(isps.items())],
            "price_per_mwh": price_per_mwh,
            "payment_cap_units": payment_cap_units,
        }
    )


def make_prognosis(powers: dict[int, int], *, fsp: str = FSP, cp: str = CP) -> DPrognosis:
    return DPrognosis.model_validate(
        {
            "prognosis_id": uid(f"prognosis-{fsp}-{cp}"),
            "session_id": SESSION_ID,
            "fsp": fsp,
            "congestion_point": cp,
            "isps": [{"isp_index": i, "power_w": p} for i, p in sorted(powers.items())],
        }
    )


def make_inputs(
    readings: Sequence[SignedMeterReading],
    meters: Sequence[tuple[str, int]],
    *,
    reservations: Sequence[tuple[str, str, int]],
    budgets: Sequence[tuple[str, int]],
    prognoses: Sequence[DPrognosis] = (),
    fsp: str = FSP,
    cp: str = CP,
) -> DeliveryInputs:
    return DeliveryInputs(
        session_id=SESSION_ID,
        session_start_ts=SESSION_START,
        readings=tuple(readings),
        portfolios=(
            Portfolio(
                fsp=fsp,
                congestion_point=cp,
                meters=tuple(MeterRef(station=s, evse=e) for s, e in meters),
            ),
        ),
        prognoses=tuple(prognoses),
        reservations=tuple(
            Reservation(request_id=uid(r), fsp=f, reserved_units=u) for r, f, u in reservations
        ),
        budgets=tuple(RequestBudget(request_id=uid(r), budget_units=u) for r, u in budgets),
    )
