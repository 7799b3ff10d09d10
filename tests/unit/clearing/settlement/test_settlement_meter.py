"""Meter integrity: forged signatures, gaps, register resets, conflicts, signed payload format."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from settlement_helpers import (
    FSP,
    ISP_S,
    SESSION_START,
    address_of,
    key_of,
    make_inputs,
    make_order,
    make_prognosis,
    profile_readings,
)

from clearing.settlement.delivery import compute_delivery
from clearing.settlement.meter import (
    SignedMeterReading,
    prepare_meter_data,
    reading_from_signed_payload,
    recover_reading_signer,
    sign_reading,
)
from clearing.settlement.rules import SettlementRules
from clearing.trust import meter_reading_payload as reading_payload

PRICE = 100_000_000
METERS = [("CS-A", 1), ("CS-B", 1)]


def keys() -> dict[str, str]:
    return {"CS-A": address_of("CS-A"), "CS-B": address_of("CS-B")}


def ts(index: int) -> int:
    return SESSION_START + index * ISP_S


def readings(per_meter_w: int = 1_000) -> list[SignedMeterReading]:
    profile = [5_000, 5_000, 5_000, 5_000, per_meter_w, per_meter_w, 5_000, 5_000]
    out: list[SignedMeterReading] = []
    for station, evse in METERS:
        out += profile_readings(station, evse, SESSION_START, profile)
    return out


def settle(rs: list[SignedMeterReading], rules: SettlementRules):
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    inputs = make_inputs(
        rs,
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", 1_000_000)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    return compute_delivery(inputs, [order], rules, keys())


def test_signed_payload_is_canonical_json_signed_with_eip191() -> None:
    payload = reading_payload(station="CS-A", evse=1, timestamp=7, import_wh=10, export_wh=2)
    assert payload == b'{"evse":1,"export_wh":2,"import_wh":10,"station":"CS-A","timestamp":7}'
    r = sign_reading(key_of("CS-A"), station="CS-A", evse=1, timestamp=7, import_wh=10, export_wh=2)
    assert recover_reading_signer(r) == address_of("CS-A")


def test_signature_matches_ocpp_signer_format() -> None:
    """The OCPP station signer (adapters/ocpp/signing.py) must produce verifiable readings."""
    from adapters.ocpp import signing

    signed = signing.sign_reading(
        key_of("CS-A"), station_id="CS-A", evse_id=1, timestamp=7, import_wh=10, export_wh=2
    )
    assert signed.signed_data.encode() == reading_payload(
        station="CS-A", evse=1, timestamp=7, import_wh=10, export_wh=2
    )
    r = reading_from_signed_payload(signed.signed_data, signed.signature)
    assert (r.station, r.evse, r.timestamp, r.import_wh, r.export_wh) == ("CS-A", 1, 7, 10, 2)
    assert recover_reading_signer(r) == address_of("CS-A")
    with pytest.raises(ValueError, match="canonical"):
        reading_from_signed_payload(signed.signed_data.replace(",", ", "), signed.signature)


def test_forged_reading_is_excluded_and_published_in_bundle() -> None:
    rules = SettlementRules(max_gap_s=1_800)
    honest = readings()
    baseline = settle(honest, rules)
    # Replace CS-A's reading at the end of ISP 4 by a forged one claiming no consumption drop.
    forged_at = ts(5)
    idx = next(i for i, r in enumerate(honest) if r.station == "CS-A" and r.timestamp == forged_at)
    original = honest[idx]
    forged = sign_reading(
        Account.create().key,  # not the station's key
        station="CS-A",
        evse=1,
        timestamp=forged_at,
        import_wh=original.import_wh + 5_000,
        export_wh=0,
    )
    tampered = original.model_copy(update={"import_wh": original.import_wh + 5_000})
    rs = [*honest[:idx], forged, *honest[idx + 1 :]]
    outcome = settle(rs, rules)
    bundle = json.loads(outcome.bundle_bytes)
    bad = [f for f in bundle["findings"] if f["code"] == "bad_signature"]
    assert len(bad) == 1 and bad[0]["subject"] == "CS-A/1" and bad[0]["timestamp"] == forged_at
    assert bundle["report"]["findings"] == bundle["findings"]
    # The forged reading is still published (as evidence) but not used: with the neighbour
    # readings 1 800 s apart the register is interpolated and the settlement is unchanged.
    assert any(r["signature"] == forged.signature for r in bundle["inputs"]["readings"])
    assert outcome.report.orders == baseline.report.orders
    # A genuine signature over different numbers is just as bad.
    outcome2 = settle([*honest[:idx], tampered, *honest[idx + 1 :]], rules)
    assert [f.code for f in outcome2.report.findings] == ["bad_signature"]
    assert outcome2.report.orders == baseline.report.orders


def test_gap_longer_than_limit_makes_isp_unverifiable() -> None:
    rs = [r for r in readings() if not (r.station == "CS-B" and r.timestamp == ts(5))]
    strict_report = settle(rs, SettlementRules(max_gap_s=900)).report
    gaps = [(f.code, f.subject, f.timestamp) for f in strict_report.findings]
    assert gaps == [("meter_gap", "CS-B/1", ts(4)), ("meter_gap", "CS-B/1", ts(5))]
    strict = strict_report.orders[0]
    assert [row.status for row in strict.isps] == ["unverifiable", "unverifiable"]
    assert [row.credited_w for row in strict.isps] == [0, 0]
    assert strict.paid_units == 0 and strict.payout_units == 0
    assert strict.penalty_units == 380_000  # 2 x 7 600 W x 900 s = 3 800 Wh x 100 EUR/MWh
    lenient = settle(rs, SettlementRules(max_gap_s=1_800)).report.orders[0]
    assert [row.status for row in lenient.isps] == ["verified", "verified"]
    assert lenient.payout_units == 400_000


def _with_reset(rs: list[SignedMeterReading], station: str, at: int) -> list[SignedMeterReading]:
    """Re-sign ``station``'s readings after ``at`` as if its registers restarted at zero there."""
    base = next(r for r in rs if r.station == station and r.timestamp == at)
    out = []
    for r in rs:
        if r.station == station and r.timestamp > at:
            r = sign_reading(
                key_of(station),
                station=station,
                evse=r.evse,
                timestamp=r.timestamp,
                import_wh=r.import_wh - base.import_wh,
                export_wh=r.export_wh - base.export_wh,
            )
        out.append(r)
    return out


def test_register_reset_neither_creates_nor_loses_energy() -> None:
    rules = SettlementRules()
    honest = readings(per_meter_w=-1_000)  # discharging: the export register moves too
    reset = _with_reset(honest, "CS-A", ts(4) + 0)
    reset = _with_reset(reset, "CS-B", ts(5))
    a = settle(honest, rules).report
    b = settle(reset, rules).report
    assert sorted({f.code for f in b.findings}) == ["register_reset"]
    assert a.orders == b.orders
    series, _ = prepare_meter_data(reset, keys(), rules)
    for key in (("CS-A", 1), ("CS-B", 1)):
        honest_series, _ = prepare_meter_data(honest, keys(), rules)
        assert series[key].energy_wh(ts(0), ts(8), 900) == honest_series[key].energy_wh(
            ts(0), ts(8), 900
        )


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=0, max_value=5_000), min_size=2, max_size=12),
    reset_after=st.sets(st.integers(min_value=0, max_value=11)),
)
def test_bridged_series_conserves_energy_for_any_resets(
    steps: list[int], reset_after: set[int]
) -> None:
    """Whatever readings a (visible) reset follows, bridged energy equals the true energy."""
    key = key_of("CS-A")
    register = 1_000
    rs = [sign_reading(key, station="CS-A", evse=1, timestamp=0, import_wh=register, export_wh=0)]
    for i, step in enumerate(steps):
        # A reset is only visible when the register goes down, so reset only then.
        register = step if (i in reset_after and step < register) else register + step
        rs.append(
            sign_reading(
                key, station="CS-A", evse=1, timestamp=(i + 1) * 60, import_wh=register, export_wh=0
            )
        )
    series, _ = prepare_meter_data(rs, {"CS-A": address_of("CS-A")}, SettlementRules())
    assert series[("CS-A", 1)].energy_wh(0, len(steps) * 60, 900) == (sum(steps), 0)


def test_unknown_unsigned_and_conflicting_readings_are_excluded() -> None:
    key = key_of("CS-A")
    good = sign_reading(key, station="CS-A", evse=1, timestamp=0, import_wh=0, export_wh=0)
    c1 = sign_reading(key, station="CS-A", evse=1, timestamp=60, import_wh=10, export_wh=0)
    c2 = sign_reading(key, station="CS-A", evse=1, timestamp=60, import_wh=20, export_wh=0)
    unsigned = SignedMeterReading(station="CS-A", evse=1, timestamp=120, import_wh=30, export_wh=0)
    stranger = sign_reading(key_of("X"), station="X", evse=1, timestamp=0, import_wh=0, export_wh=0)
    series, findings = prepare_meter_data(
        [good, c1, c2, unsigned, stranger], {"CS-A": address_of("CS-A")}, SettlementRules()
    )
    assert [f.code for f in findings] == [
        "conflicting_readings",
        "unknown_station",
        "unsigned_reading",
    ]
    assert series[("CS-A", 1)].points == [(0, 0, 0)]
    relaxed, _ = prepare_meter_data(
        [good, unsigned], {"CS-A": address_of("CS-A")}, SettlementRules(require_signatures=False)
    )
    assert relaxed[("CS-A", 1)].points == [(0, 0, 0), (120, 30, 0)]


def test_dispute_evidence_fills_a_gap_and_changes_the_payout() -> None:
    """A gap leaves ISPs unverifiable; the FSP disputes with the station's signed reading."""
    from clearing.settlement.delivery import recompute_with_evidence

    full = readings()
    missing = next(r for r in full if r.station == "CS-B" and r.timestamp == ts(5))
    rules = SettlementRules(max_gap_s=900)
    published = settle([r for r in full if r is not missing], rules)
    assert published.report.payout_vector() == [0]
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    forged = missing.model_copy(update={"import_wh": missing.import_wh + 1})
    rejected = recompute_with_evidence(published.bundle_bytes, [forged], [order], rules, keys())
    assert rejected.report.payout_vector() == [0]
    assert "bad_signature" in [f.code for f in rejected.report.findings]
    resolved = recompute_with_evidence(published.bundle_bytes, [missing], [order], rules, keys())
    assert resolved.report.payout_vector() == [400_000]
    assert resolved.report.root != published.report.root
    assert resolved.report.orders == settle(full, rules).report.orders


def test_station_keys_may_be_addresses_or_public_keys() -> None:
    from coincurve import PrivateKey

    from clearing.settlement.meter import station_address

    secret = bytes.fromhex(key_of("CS-A")[2:])
    public = PrivateKey(secret).public_key
    expected = address_of("CS-A")
    assert station_address(expected.upper().replace("0X", "0x")) == expected
    assert station_address("0x" + public.format(compressed=False).hex()) == expected
    assert station_address("0x" + public.format(compressed=False)[1:].hex()) == expected
    assert station_address("0x" + public.format(compressed=True).hex()) == expected
    with pytest.raises(ValueError, match="station key"):
        station_address("0x1234")
    r = sign_reading(key_of("CS-A"), station="CS-A", evse=1, timestamp=0, import_wh=0, export_wh=0)
    series, findings = prepare_meter_data(
        [r], {"CS-A": "0x" + public.format(compressed=False).hex()}, SettlementRules()
    )
    assert findings == [] and series[("CS-A", 1)].points == [(0, 0, 0)]
