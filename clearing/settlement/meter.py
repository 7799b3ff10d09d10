"""Signed meter readings and their integrity checks: signatures, gaps, register resets.

Signed payload: :func:`clearing.trust.meter_reading_payload` (the one definition the OCPP
stations use too), signed with EIP-191 ``personal_sign`` by the station's secp256k1 key.  The
recovered address must equal the station's registered address.

Integrity rules (all from :class:`~clearing.settlement.rules.SettlementRules`):

* a reading with a bad, missing (when required) or unknown-station signature is excluded
  and reported as a finding;
* readings of one meter with the same timestamp but different registers are all excluded;
* a register that goes down is a reset of the meter: both registers of the reading after it
  count as energy since the reset (they restarted at zero), so the bridged series neither
  creates nor loses energy (a reset is visible only when some register goes down);
* register values at ISP boundaries are interpolated linearly (floor) between valid readings
  at most ``max_gap_s`` apart; an ISP touched by a longer gap is unverifiable.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from clearing.settlement.rules import SettlementRules
from clearing.trust import (
    eip191_sign,
    meter_reading_payload,
    recover_eip191_address,
    secp256k1_key,
    station_address,
)

__all__ = [
    "Finding",
    "MeterRef",
    "MeterSeries",
    "SignedMeterReading",
    "prepare_meter_data",
    "reading_from_signed_payload",
    "recover_reading_signer",
    "sign_reading",
    "station_address",
]

# Finding codes published in the delivery bundle.
BAD_SIGNATURE = "bad_signature"
UNSIGNED_READING = "unsigned_reading"
UNKNOWN_STATION = "unknown_station"
CONFLICTING_READINGS = "conflicting_readings"
REGISTER_RESET = "register_reset"
_PAYLOAD_KEYS = frozenset({"evse", "export_wh", "import_wh", "station", "timestamp"})


class MeterRef(BaseModel):
    """One metered connector: a station and its EVSE."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    station: str = Field(min_length=1)
    evse: int = Field(ge=0)

    @property
    def key(self) -> tuple[str, int]:
        return (self.station, self.evse)


class SignedMeterReading(BaseModel):
    """Cumulative import/export registers of one connector at one instant, with its signature."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    station: str = Field(min_length=1)
    evse: int = Field(ge=0)
    timestamp: int = Field(ge=0)
    import_wh: int = Field(ge=0)
    export_wh: int = Field(ge=0)
    signature: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.station, self.evse)

    def payload(self) -> bytes:
        return meter_reading_payload(
            station=self.station,
            evse=self.evse,
            timestamp=self.timestamp,
            import_wh=self.import_wh,
            export_wh=self.export_wh,
        )


class Finding(BaseModel):
    """Something the verifier noticed; published in the delivery bundle."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    code: str
    subject: str
    timestamp: int
    detail: str

    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.code, self.subject, self.timestamp, self.detail)


def reading_from_signed_payload(signed_data: str | bytes, signature: str) -> SignedMeterReading:
    """Rebuild a reading from the exact bytes a station signed (e.g. the OCPP
    ``signedMeterValue`` envelope's payload) and its signature."""
    raw = signed_data.encode() if isinstance(signed_data, str) else signed_data
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"signed_data: not JSON ({exc})") from exc
    if not isinstance(obj, dict) or set(obj) != _PAYLOAD_KEYS:
        raise ValueError(f"signed_data: expected exactly the keys {sorted(_PAYLOAD_KEYS)}")
    reading = SignedMeterReading(signature=signature, **obj)
    if reading.payload() != raw:
        raise ValueError("signed_data: not in canonical form (sorted keys, no whitespace)")
    return reading


def sign_reading(
    private_key: str | bytes,
    *,
    station: str,
    evse: int,
    timestamp: int,
    import_wh: int,
    export_wh: int,
) -> SignedMeterReading:
    """Sign a reading with EIP-191 personal_sign (what a station does; used by tests and sims)."""
    payload = meter_reading_payload(
        station=station, evse=evse, timestamp=timestamp, import_wh=import_wh, export_wh=export_wh
    )
    signature = eip191_sign(secp256k1_key(private_key), payload)
    return SignedMeterReading(
        station=station,
        evse=evse,
        timestamp=timestamp,
        import_wh=import_wh,
        export_wh=export_wh,
        signature=signature,
    )


def recover_reading_signer(reading: SignedMeterReading) -> str | None:
    """Lower-case address that signed ``reading``, or None when the signature is malformed."""
    if not reading.signature:
        return None
    try:
        return recover_eip191_address(reading.payload(), reading.signature)
    except Exception:  # eth-account raises several types for malformed signatures
        return None


def _subject(key: tuple[str, int]) -> str:
    return f"{key[0]}/{key[1]}"


class MeterSeries:
    """Valid readings of one connector with resets bridged: monotone cumulative registers."""

    def __init__(self, key: tuple[str, int], points: list[tuple[int, int, int]]) -> None:
        self.key = key
        self.points = points  # (timestamp, import_wh, export_wh), strictly increasing time
        self._times = [p[0] for p in points]

    def _value_at(self, lo: int, ts: int) -> tuple[int, int]:
        t0, i0, e0 = self.points[lo]
        if t0 == ts:
            return (i0, e0)
        t1, i1, e1 = self.points[lo + 1]
        span = t1 - t0
        return (i0 + (i1 - i0) * (ts - t0) // span, e0 + (e1 - e0) * (ts - t0) // span)

    def energy_wh(self, start: int, end: int, max_gap_s: int) -> tuple[int, int] | None:
        """(import Wh, export Wh) over [start, end], or None when the data cannot show it."""
        times = self._times
        if not times or times[0] > start or times[-1] < end or end < start:
            return None
        lo = bisect.bisect_right(times, start) - 1  # last reading at or before start
        hi = bisect.bisect_left(times, end)  # first reading at or after end
        for i in range(lo, hi):
            if times[i + 1] - times[i] > max_gap_s:
                return None
        i_a, e_a = self._value_at(lo, start)
        hi_lo = hi if times[hi] == end else hi - 1
        i_b, e_b = self._value_at(hi_lo, end)
        return (i_b - i_a, e_b - e_a)


def prepare_meter_data(
    readings: Iterable[SignedMeterReading],
    station_keys: Mapping[str, str],
    rules: SettlementRules,
) -> tuple[dict[tuple[str, int], MeterSeries], list[Finding]]:
    """Verify signatures, drop conflicts, bridge resets; return per-connector series + findings."""
    keys = {station: station_address(key) for station, key in station_keys.items()}
    findings: list[Finding] = []
    by_meter: dict[tuple[str, int], dict[int, set[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for reading in readings:
        registered = keys.get(reading.station)
        subject = _subject(reading.key)
        if registered is None:
            findings.append(
                Finding(
                    code=UNKNOWN_STATION,
                    subject=subject,
                    timestamp=reading.timestamp,
                    detail="station has no registered key; reading excluded",
                )
            )
            continue
        if not reading.signature:
            if rules.require_signatures:
                findings.append(
                    Finding(
                        code=UNSIGNED_READING,
                        subject=subject,
                        timestamp=reading.timestamp,
                        detail="reading carries no signature; excluded",
                    )
                )
                continue
        else:
            signer = recover_reading_signer(reading)
            if signer != registered:
                findings.append(
                    Finding(
                        code=BAD_SIGNATURE,
                        subject=subject,
                        timestamp=reading.timestamp,
                        detail=f"signer {signer or 'unrecoverable'} is not {registered}; excluded",
                    )
                )
                continue
        by_meter[reading.key][reading.timestamp].add((reading.import_wh, reading.export_wh))

    series: dict[tuple[str, int], MeterSeries] = {}
    for key in sorted(by_meter):
        raw: list[tuple[int, int, int]] = []
        for ts in sorted(by_meter[key]):
            values = by_meter[key][ts]
            if len(values) > 1:
                findings.append(
                    Finding(
                        code=CONFLICTING_READINGS,
                        subject=_subject(key),
                        timestamp=ts,
                        detail=f"{len(values)} different register values; all excluded",
                    )
                )
                continue
            (imp, exp) = next(iter(values))
            raw.append((ts, imp, exp))
        points: list[tuple[int, int, int]] = []
        for i, (ts, imp, exp) in enumerate(raw):
            if i == 0:
                points.append((ts, imp, exp))
                continue
            _, prev_imp, prev_exp = raw[i - 1]
            _, cum_imp, cum_exp = points[-1]
            d_imp = imp - prev_imp
            d_exp = exp - prev_exp
            if d_imp < 0 or d_exp < 0:
                # A meter restarts both registers at zero: everything since is new energy.
                findings.append(
                    Finding(
                        code=REGISTER_RESET,
                        subject=_subject(key),
                        timestamp=ts,
                        detail=(
                            f"registers went from import {prev_imp} / export {prev_exp} to "
                            f"{imp} / {exp}; bridged from zero"
                        ),
                    )
                )
                d_imp, d_exp = imp, exp
            points.append((ts, cum_imp + d_imp, cum_exp + d_exp))
        series[key] = MeterSeries(key, points)
    findings.sort(key=Finding.sort_key)
    return series, findings
