"""Per-user statements of a session: shares by delivered flexibility over every EVSE of the
FSP (an EVSE without an EV user keeps its part with the FSP), the orders at the user's
congestion point, the anchors, and the JSON files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from adapters.ocpp.sink import MeterReading
from clearing.messages import FlexOrder, IspPower
from clearing.settlement.rules import SettlementRules
from market.fsp.config import FspGatewayConfig, parse_config
from market.fsp.statements import TOTALS, build_statements, keep_itemised, write_statement_files

ISP_S, START = 900, 90_000
RULES = SettlementRules(isp_s=ISP_S, max_gap_s=300)
SESSION = {"id": str(uuid.UUID(int=7)), "delivery_start": START, "delivery_end": START + 1_800}


def _cfg() -> FspGatewayConfig:
    evses = [{"evse_id": e, "congestion_point": "CP-1", "max_import_w": 11_000} for e in (1, 2, 3)]
    return parse_config(
        {
            "market_url": "http://127.0.0.1:8000",
            "key_env": "K",
            "csms": {"stations": {"ST": {"password_env": "P", "evses": evses}}},
            "ev_users": {
                "alice": {"station": "ST", "evse_id": 1},
                "bob": {"station": "ST", "evse_id": 2},
            },
        }
    )


def _readings(evse: int, power_w: int) -> list[MeterReading]:
    step = 180  # 5 readings per ISP, whole Wh at these powers
    return [
        MeterReading(
            "ST", evse, START + k * step, power_w * k * step // 3600, 0, 0, None, "ocpp2.1", 0
        )
        for k in range(2 * ISP_S // step + 1)
    ]


def test_shares_follow_delivered_flexibility_and_statements_explain_them(tmp_path: Path) -> None:
    order = FlexOrder(
        order_id=str(uuid.UUID(int=1)),
        session_id=SESSION["id"],
        offer_id=str(uuid.UUID(int=2)),
        option_ref="flat",
        fsp="0x" + "ab" * 20,
        request_id=str(uuid.UUID(int=3)),
        congestion_point="CP-1",
        direction="UP",
        activation_ppm=1_000_000,
        isps=(IspPower(isp_index=0, power_w=10_000), IspPower(isp_index=1, power_w=10_000)),
        price_per_mwh=100_000_000,
        payment_cap_units=10**9,
    )
    # baseline 11 kW each; alice down to 5 kW (6 kW), bob 11 kW (0), the FSP's own EVSE 8 kW (3)
    nominations = {("ST", e): [11_000, 11_000] for e in (1, 2, 3)}
    readings = {("ST", 1): _readings(1, 5_000), ("ST", 2): _readings(2, 11_000)}
    readings[("ST", 3)] = _readings(3, 8_000)
    shares, statements = build_statements(
        _cfg(),
        session=SESSION,
        orders=[order],
        rules=RULES,
        readings=readings,
        nominations=nominations,
        payout_units=1_000,
        anchors={
            "delivery_root": "0xroot",
            "payout_tx": "0xtx",
            "withdrawn_units": 1_000,
            "order_payouts": {order.order_id: 1_000},
        },
    )
    assert shares == {"ST/1": 667, "ST/2": 0, "ST/3": 333}  # 6:0:3, remainder to the largest
    alice, bob = statements["alice"], statements["bob"]
    assert alice["share_units"] == 667 and bob["share_units"] == 0
    assert alice["delivered_wh"] == 3_000 and alice["fleet_delivered_wh"] == 4_500
    assert [i["delivered_w"] for i in alice["isps"]] == [6_000, 6_000]
    assert [i["baseline_w"] for i in bob["isps"]] == [11_000, 11_000]
    assert alice["orders"][0]["payout_units"] == 1_000 and alice["orders"][0]["direction"] == "UP"
    assert (alice["delivery_root"], alice["payout_tx"]) == ("0xroot", "0xtx")
    assert alice["energy_wh"] == 2_500 and alice["baseline_method"] == "nominated"
    paths = write_statement_files(tmp_path, statements)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"alice/{SESSION['id']}.json",
        f"bob/{SESSION['id']}.json",
    ]
    assert json.loads(paths[0].read_text()) == alice
    assert not list(tmp_path.rglob("*.tmp"))
    # only alice consented to itemised statements: bob's keeps the totals, no reading
    kept = keep_itemised(statements, {"alice"})
    assert kept["alice"] == {**alice, "itemised": True}
    assert kept["bob"] == {**{k: bob[k] for k in TOTALS}, "itemised": False}
    assert "isps" not in kept["bob"] and "station_id" not in kept["bob"]
