"""Clearing house: signed revenue-sharing contracts, period netting, statements, EV user view.

Session: one FSP fully delivers an 8 000 W UP order over two ISPs at 100 EUR/MWh, so the DSO
owes it 400 000 units.  Two EV users provided the flexibility:

* U1 (fleet vehicle): 1 500 Wh shifted + 500 Wh discharged = 2 000 Wh -> revenue share
  200 000; contract: 30 % incentive = 60 000, fleet 10 % = 20 000, CPO 10 000/kWh = 20 000,
  platform 5 % = 10 000;
* U2 (private): 2 000 Wh shifted -> share 200 000; contract: 20 000 per kWh shifted = 40 000,
  CPO 20 000, platform 10 000.

Net: DSO -400 000, FSP +220 000, U1 +60 000, U2 +40 000, fleet +20 000, CPO +40 000,
platform fee 20 000; members sum to -20 000 = -fee.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

import pytest
from eth_account import Account

from clearing.encoding import keccak256
from clearing.messages import FlexOrder
from clearing.settlement.delivery import (
    DeliveryInputs,
    Portfolio,
    RequestBudget,
    Reservation,
    compute_delivery,
)
from clearing.settlement.meter import MeterRef, sign_reading
from clearing.settlement.revenue import (
    RevenueShareContract,
    UserContribution,
    sign_contract,
    verify_contract_signatures,
)
from clearing.settlement.rules import SettlementError, SettlementRules
from market.clearing_house.period import SignedContract, settle_period
from market.clearing_house.statements import statement_csv, statement_json
from market.clearing_house.uftp_xml import flex_settlement_xml, parse_flex_settlement_xml

START = 1_767_225_600  # 2026-01-01T00:00:00Z
ISP = 900
CHAIN_ID = 31_337
VERIFYING = "0x" + "11" * 20


def acct(name: str):
    return Account.from_key(keccak256(f"party:{name}".encode()))


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"clearing-house-test:{name}"))


DSO, FSP, U1, U2, FLEET, CPO, PLATFORM, STATION = (
    acct(n) for n in ("dso", "fsp", "u1", "u2", "fleet", "cpo", "platform", "station")
)
SESSION = uid("session")
REQUEST = uid("request")


def addr(a) -> str:
    return a.address.lower()


def report():
    readings = []
    imp = 100_000
    for i, p in enumerate([10_000] * 4 + [2_000, 2_000] + [10_000] * 2 + [10_000]):
        readings.append(
            sign_reading(
                STATION.key,
                station="CS-1",
                evse=1,
                timestamp=START + i * ISP,
                import_wh=imp,
                export_wh=0,
            )
        )
        imp += p * ISP // 3600
    order = FlexOrder.model_validate(
        {
            "order_id": uid("order"),
            "session_id": SESSION,
            "offer_id": uid("offer"),
            "option_ref": "A",
            "fsp": addr(FSP),
            "request_id": REQUEST,
            "congestion_point": "ean.871685900000000001",
            "direction": "UP",
            "activation_ppm": 1_000_000,
            "isps": [{"isp_index": 4, "power_w": 8_000}, {"isp_index": 5, "power_w": 8_000}],
            "price_per_mwh": 100_000_000,
            "payment_cap_units": 400_000,
        }
    )
    inputs = DeliveryInputs(
        session_id=SESSION,
        session_start_ts=START,
        readings=tuple(readings),
        portfolios=(
            Portfolio(
                fsp=addr(FSP),
                congestion_point="ean.871685900000000001",
                meters=(MeterRef(station="CS-1", evse=1),),
            ),
        ),
        reservations=(Reservation(request_id=REQUEST, fsp=addr(FSP), reserved_units=400_000),),
        budgets=(RequestBudget(request_id=REQUEST, budget_units=1_000_000),),
    )
    rules = SettlementRules(baseline_method="meter_before")
    return compute_delivery(inputs, [order], rules, {"CS-1": addr(STATION)}).report


def contracts() -> list[RevenueShareContract]:
    common = {
        "fsp": addr(FSP),
        "cpo": addr(CPO),
        "platform": addr(PLATFORM),
        "valid_from": 0,
        "valid_until": 2**40,
    }
    return [
        RevenueShareContract(
            contract_id=uid("c1"),
            ev_user=addr(U1),
            fleet_operator=addr(FLEET),
            user_incentive_mode="percent",
            user_incentive_ppm=300_000,
            fleet_share_ppm=100_000,
            cpo_fee_per_kwh_units=10_000,
            platform_fee_ppm=50_000,
            **common,
        ),
        RevenueShareContract(
            contract_id=uid("c2"),
            ev_user=addr(U2),
            user_incentive_mode="per_kwh",
            user_incentive_per_kwh_shifted_units=20_000,
            user_incentive_per_kwh_discharged_units=50_000,
            cpo_fee_per_kwh_units=10_000,
            platform_fee_ppm=50_000,
            **common,
        ),
    ]


def signed(contract: RevenueShareContract, parties) -> SignedContract:
    sigs = tuple(
        sign_contract(contract, p.key, chain_id=CHAIN_ID, verifying_contract=VERIFYING)
        for p in parties
    )
    return SignedContract(contract=contract, signatures=sigs)


CONTRIBUTIONS = [
    UserContribution(
        session_id=SESSION, fsp=addr(FSP), ev_user=addr(U1), shifted_wh=1_500, discharged_wh=500
    ),
    UserContribution(
        session_id=SESSION, fsp=addr(FSP), ev_user=addr(U2), shifted_wh=2_000, discharged_wh=0
    ),
]


def settle():
    c1, c2 = contracts()
    return settle_period(
        period=SESSION,
        reports=[report()],
        dso_of_request={REQUEST: addr(DSO)},
        contributions=CONTRIBUTIONS,
        contracts=[
            signed(c1, [FSP, U1, FLEET, CPO, PLATFORM]),
            signed(c2, [FSP, U2, CPO, PLATFORM]),
        ],
        fee_recipient=addr(PLATFORM),
        chain_id=CHAIN_ID,
        verifying_contract=VERIFYING,
        at_ts=START,
    )


def test_contract_signatures_are_checked() -> None:
    c1, _ = contracts()
    all_parties = [FSP, U1, FLEET, CPO, PLATFORM]
    ok = signed(c1, all_parties)
    assert (
        verify_contract_signatures(
            c1, ok.signatures, chain_id=CHAIN_ID, verifying_contract=VERIFYING
        )
        == []
    )
    missing = signed(c1, [FSP, U1, CPO, PLATFORM])
    assert verify_contract_signatures(
        c1, missing.signatures, chain_id=CHAIN_ID, verifying_contract=VERIFYING
    ) == [f"signatures: missing {addr(FLEET)}"]
    outsider = signed(c1, [*all_parties, U2])
    assert any(
        "not a party" in p
        for p in verify_contract_signatures(
            c1, outsider.signatures, chain_id=CHAIN_ID, verifying_contract=VERIFYING
        )
    )
    # Signatures over other terms (or another chain) do not count for these terms.
    richer = c1.model_copy(update={"user_incentive_ppm": 900_000})
    assert (
        len(
            verify_contract_signatures(
                richer, ok.signatures, chain_id=CHAIN_ID, verifying_contract=VERIFYING
            )
        )
        == 10
    )
    assert verify_contract_signatures(c1, ok.signatures, chain_id=1, verifying_contract=VERIFYING)
    with pytest.raises(SettlementError, match="missing"):
        settle_period(
            period=SESSION,
            reports=[report()],
            dso_of_request={REQUEST: addr(DSO)},
            contributions=CONTRIBUTIONS,
            contracts=[missing, signed(contracts()[1], [FSP, U2, CPO, PLATFORM])],
            fee_recipient=addr(PLATFORM),
            chain_id=CHAIN_ID,
            verifying_contract=VERIFYING,
            at_ts=START,
        )


def test_period_netting_matches_hand_computation() -> None:
    result = settle()
    n = result.netting
    expected = {
        addr(DSO): -400_000,
        addr(FSP): 220_000,
        addr(U1): 60_000,
        addr(U2): 40_000,
        addr(FLEET): 20_000,
        addr(CPO): 40_000,
    }
    assert dict(zip(n.members, n.net_amounts, strict=True)) == expected
    assert n.fee_units == 20_000 and n.fee_recipient == addr(PLATFORM)
    assert sum(n.net_amounts) + n.fee_units == 0
    # On-chain: finalize already credited the FSP its 400 000, so only the FSP's obligations
    # to the others move through settleNetting.
    period_id, members, amounts, fee, recipient = result.onchain.settle_netting_args()
    assert len(period_id) == 32 and fee == 20_000 and recipient == PLATFORM.address
    onchain = {m.lower(): a for m, a in zip(members, amounts, strict=True)}
    assert onchain == {addr(FSP): -180_000} | {
        k: v for k, v in expected.items() if k not in (addr(DSO), addr(FSP))
    }
    assert sum(amounts) == -fee


def test_statements_json_csv_and_ev_user_view() -> None:
    result = settle()
    fsp_statement = result.statements[addr(FSP)]
    assert fsp_statement.receivable_units == 400_000
    assert fsp_statement.payable_units == 180_000
    assert fsp_statement.netting_position_units == 220_000
    assert fsp_statement.onchain_position_units == -180_000
    assert result.statements[addr(DSO)].onchain_position_units == 0
    assert json.loads(statement_json(fsp_statement))["netting_position_units"] == 220_000
    assert statement_json(fsp_statement) == statement_json(settle().statements[addr(FSP)])
    rows = list(csv.DictReader(io.StringIO(statement_csv(fsp_statement))))
    assert rows[-1]["kind"] == "net" and rows[-1]["amount"] == "0.220000"
    assert sum(int(r["amount_units"]) for r in rows[:-1]) == 220_000
    platform = result.statements[addr(PLATFORM)]
    assert platform.fee_units == 20_000 and platform.netting_position_units == 20_000
    earnings = {e.ev_user: e for e in result.user_earnings}
    assert earnings[addr(U1)].incentive_units == 60_000
    assert earnings[addr(U1)].discharged_wh == 500
    assert earnings[addr(U2)].incentive_units == 40_000
    assert {e.session_id for e in result.user_earnings} == {SESSION}
    user_lines = result.statements[addr(U1)].lines
    assert [(line.kind, line.amount_units) for line in user_lines] == [("user_incentive", 60_000)]


def test_uftp_flex_settlement_xml_round_trips() -> None:
    r = report()
    xml = flex_settlement_xml(
        r,
        fsp=addr(FSP),
        sender_domain="dso.flexmarket.test",
        recipient_domain="fsp.flexmarket.test",
        message_id=uid("msg"),
        conversation_id=uid("conv"),
        time_stamp="2026-01-01T03:00:00Z",
    )
    assert "<FlexSettlement" in xml and 'Currency="EUR"' in xml
    parsed = parse_flex_settlement_xml(xml)
    (fos,) = parsed.flex_order_settlements
    assert fos.order_reference == uid("order")
    assert str(fos.period) == "2026-01-01"
    assert fos.price == Decimal("0.4000") and fos.net_settlement == Decimal("0.4000")
    assert [
        (
            i.start,
            i.baseline_power,
            i.ordered_flex_power,
            i.actual_power,
            i.delivered_flex_power,
            i.power_deficiency,
        )
        for i in fos.isps
    ] == [(5, 10_000, 8_000, 2_000, 8_000, 0), (6, 10_000, 8_000, 2_000, 8_000, 0)]
    (cs,) = parsed.contract_settlements
    assert cs.contract_id == REQUEST
    assert [i.reserved_power for i in cs.periods[0].isps] == [8_000, 8_000]
    with pytest.raises(ValueError, match="no orders"):
        flex_settlement_xml(
            r,
            fsp=addr(U1),
            sender_domain="dso.flexmarket.test",
            recipient_domain="fsp.flexmarket.test",
            message_id=uid("msg"),
            conversation_id=uid("conv"),
            time_stamp="2026-01-01T03:00:00Z",
        )
