"""Glue from the market store to ``clearing.settlement``: store rows -> DeliveryInputs.

Pure functions over row-like objects (SQLModel rows or anything with the same attributes), so
the lifecycle's verification hook stays short: load rows, call :func:`build_delivery_inputs`,
``compute_delivery``, publish ``outcome.bundle_bytes`` as the delivery bundle and attest
``outcome.report.root`` with ``outcome.report.payout_vector()``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from clearing.encoding import hex32
from clearing.messages import DPrognosis
from clearing.settlement.delivery import DeliveryInputs, Portfolio, RequestBudget, Reservation
from clearing.settlement.meter import MeterRef, SignedMeterReading, station_address
from clearing.settlement.report import ContractSetRef

__all__ = [
    "AssetLike",
    "ReadingLike",
    "build_delivery_inputs",
    "portfolios_from_assets",
    "readings_from_rows",
    "station_keys_from_assets",
]


class AssetLike(Protocol):
    congestion_point: str
    owner: str
    station_id: str
    evse_id: int
    meter_public_key: str | None


class ReadingLike(Protocol):
    station_id: str
    evse_id: int
    timestamp: int
    import_wh: int
    export_wh: int
    signature: str | None


def portfolios_from_assets(assets: Iterable[AssetLike]) -> tuple[Portfolio, ...]:
    """One portfolio per (owner FSP, congestion point) with its metered connectors."""
    meters: dict[tuple[str, str], set[tuple[str, int]]] = defaultdict(set)
    for a in assets:
        if a.station_id:
            meters[(a.owner.lower(), a.congestion_point)].add((a.station_id, a.evse_id))
    return tuple(
        Portfolio(
            fsp=fsp,
            congestion_point=cp,
            meters=tuple(MeterRef(station=s, evse=e) for s, e in sorted(meters[(fsp, cp)])),
        )
        for fsp, cp in sorted(meters)
    )


def station_keys_from_assets(assets: Iterable[AssetLike]) -> dict[str, str]:
    """Station id -> registered signer address; a station with two keys is refused."""
    keys: dict[str, str] = {}
    for a in assets:
        if not a.station_id or not a.meter_public_key:
            continue
        address = station_address(a.meter_public_key)
        if keys.setdefault(a.station_id, address) != address:
            raise ValueError(f"assets: station {a.station_id} is registered with two keys")
    return keys


def readings_from_rows(
    rows: Iterable[ReadingLike], *, from_ts: int, to_ts: int
) -> tuple[SignedMeterReading, ...]:
    """Stored readings inside [from_ts, to_ts], in a canonical order."""
    out = [
        SignedMeterReading(
            station=r.station_id,
            evse=r.evse_id,
            timestamp=r.timestamp,
            import_wh=r.import_wh,
            export_wh=r.export_wh,
            signature=r.signature or "",
        )
        for r in rows
        if from_ts <= r.timestamp <= to_ts
    ]
    out.sort(key=lambda r: (r.station, r.evse, r.timestamp, r.import_wh, r.export_wh, r.signature))
    return tuple(out)


def build_delivery_inputs(
    *,
    session_id: str,
    session_start_ts: int,
    portfolios: Sequence[Portfolio],
    readings: Sequence[SignedMeterReading],
    prognoses: Sequence[DPrognosis],
    reservations: Sequence[tuple[str, str, int]],
    budgets: Sequence[tuple[str, int]],
    contract_sets: Mapping[str, bytes] | None = None,
) -> DeliveryInputs:
    """Assemble settlement inputs; ``reservations`` (request, fsp, units) in on-chain order;
    ``portfolios`` are the ones the FSPs committed (``portfolios_from_assets`` for the rest)."""
    return DeliveryInputs(
        session_id=session_id,
        session_start_ts=session_start_ts,
        readings=tuple(readings),
        portfolios=tuple(sorted(portfolios, key=lambda p: (p.fsp, p.congestion_point))),
        prognoses=tuple(sorted(prognoses, key=lambda p: (p.fsp, p.congestion_point))),
        reservations=tuple(
            Reservation(request_id=r, fsp=f.lower(), reserved_units=u) for r, f, u in reservations
        ),
        budgets=tuple(RequestBudget(request_id=r, budget_units=u) for r, u in budgets),
        contract_sets=tuple(
            ContractSetRef(fsp=f.lower(), root=hex32(root))
            for f, root in sorted((contract_sets or {}).items())
        ),
    )
