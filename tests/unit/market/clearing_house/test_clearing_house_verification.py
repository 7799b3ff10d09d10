"""Store rows -> DeliveryInputs: the glue the lifecycle's verification hook uses."""

from __future__ import annotations

import uuid

import pytest
from coincurve import PrivateKey
from eth_account import Account

from clearing.encoding import keccak256
from clearing.messages import FlexOrder
from clearing.settlement.delivery import compute_delivery, required_reading_window
from clearing.settlement.meter import sign_reading
from clearing.settlement.rules import SettlementRules
from market.clearing_house.verification import (
    build_delivery_inputs,
    portfolios_from_assets,
    readings_from_rows,
    station_keys_from_assets,
)
from market.store import models as m

START = 1_767_225_600
ISP = 900
FSP = "0x" + "ab" * 20
CP = "ean.871685900000000001"


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"verification-test:{name}"))


def station_key(name: str) -> bytes:
    return keccak256(f"station:{name}".encode())


def assets() -> list[m.Asset]:
    return [
        m.Asset(
            id=uid(f"asset-{s}"),
            congestion_point=CP,
            owner=FSP.upper().replace("0X", "0x"),
            station_id=s,
            evse_id=1,
            meter_public_key="0x"
            + PrivateKey(station_key(s)).public_key.format(compressed=False).hex(),
        )
        for s in ("CS-1", "CS-2")
    ]


def reading_rows() -> list[m.MeterReading]:
    rows = []
    for s in ("CS-1", "CS-2"):
        imp = 50_000
        for i in range(-8, 9):  # ISP boundaries from 2 h before the session start to 2 h after
            r = sign_reading(
                station_key(s),
                station=s,
                evse=1,
                timestamp=START + i * ISP,
                import_wh=imp,
                export_wh=0,
            )
            rows.append(
                m.MeterReading(
                    station_id=s,
                    evse_id=1,
                    timestamp=r.timestamp,
                    import_wh=r.import_wh,
                    export_wh=0,
                    signature=r.signature,
                )
            )
            imp += (5_000 if i not in (4, 5) else 1_000) * ISP // 3600
    return rows


def test_rows_become_inputs_that_settle() -> None:
    rules = SettlementRules(baseline_method="meter_before", meter_before_window_s=3_600)
    lo, hi = required_reading_window(rules, START + 4 * ISP, START + 6 * ISP)
    assert (lo, hi) == (START + 4 * ISP - 3_600 - 900, START + 6 * ISP + 900)
    readings = readings_from_rows(reading_rows(), from_ts=lo, to_ts=hi)
    assert {r.timestamp for r in readings} == {START + i * ISP for i in range(-1, 8)}
    keys = station_keys_from_assets(assets())
    assert keys["CS-1"] == Account.from_key(station_key("CS-1")).address.lower()
    inputs = build_delivery_inputs(
        session_id=uid("session"),
        session_start_ts=START,
        portfolios=portfolios_from_assets(assets()),
        readings=readings,
        prognoses=[],
        reservations=[(uid("request"), FSP, 400_000)],
        budgets=[(uid("request"), 500_000)],
    )
    assert inputs.portfolios[0].fsp == FSP and len(inputs.portfolios[0].meters) == 2
    order = FlexOrder.model_validate(
        {
            "order_id": uid("order"),
            "session_id": uid("session"),
            "offer_id": uid("offer"),
            "option_ref": "A",
            "fsp": FSP,
            "request_id": uid("request"),
            "congestion_point": CP,
            "direction": "UP",
            "activation_ppm": 1_000_000,
            "isps": [{"isp_index": 4, "power_w": 8_000}, {"isp_index": 5, "power_w": 8_000}],
            "price_per_mwh": 100_000_000,
            "payment_cap_units": 400_000,
        }
    )
    report = compute_delivery(inputs, [order], rules, keys).report
    assert report.findings == ()
    assert [r.delivered_w for r in report.orders[0].isps] == [8_000, 8_000]
    assert report.payout_vector() == [400_000]
    assert report.refunds[0].refund_units == 100_000


def test_a_station_with_two_keys_is_refused() -> None:
    a = assets()
    a[1].station_id = "CS-1"
    with pytest.raises(ValueError, match="two keys"):
        station_keys_from_assets(a)
