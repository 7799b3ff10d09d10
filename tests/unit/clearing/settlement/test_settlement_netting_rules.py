"""Netting edge cases and rule validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.settlement.netting import Obligation, net_obligations, netting_period_id
from clearing.settlement.rules import SettlementRules

A, B, C, P = ("0x" + c * 40 for c in "abcf")
SID = "6f1d3c52-6a0e-4d1b-9a55-0d2c3e4f5a61"


def ob(payer: str, payee: str, amount: int, kind: str = "flex_payout") -> Obligation:
    return Obligation(
        payer=payer, payee=payee, amount_units=amount, kind=kind, session_id=SID, reference="r"
    )


def test_cycle_nets_to_nothing_and_fee_recipient_can_be_a_member() -> None:
    result = net_obligations(
        [
            ob(A, B, 100),
            ob(B, C, 100),
            ob(C, A, 100),  # a pure cycle: nobody moves money
            ob(A, P, 7, "platform_fee"),  # fee
            ob(B, P, 5, "cpo_fee"),  # P is also paid as a member for something else
            ob(C, C, 50),  # self obligation: ignored
            ob(A, B, 0),  # zero: ignored
        ],
        period="2026-01-01",
        fee_recipient=P,
    )
    assert dict(zip(result.members, result.net_amounts, strict=True)) == {A: -7, B: -5, P: 5}
    assert result.fee_units == 7
    assert sum(result.net_amounts) + result.fee_units == 0
    assert result.gross_units == 312
    assert result.period_id == hex32(keccak256(b"flexmarket:netting:2026-01-01"))


def test_period_id_of_a_session_is_its_on_chain_id() -> None:
    assert netting_period_id(SID) == hex32(uuid_to_bytes32(SID))


def test_netting_is_order_independent() -> None:
    obligations = [ob(A, B, 10), ob(B, C, 3), ob(C, P, 1, "platform_fee")]
    one = net_obligations(obligations, period=SID, fee_recipient=P)
    two = net_obligations(obligations[::-1], period=SID, fee_recipient=P)
    assert one == two


def test_obligation_and_rules_validation_name_the_field() -> None:
    with pytest.raises(ValidationError, match="payee"):
        ob(A, "0x1234", 1)
    with pytest.raises(ValidationError, match="amount_units"):
        ob(A, B, -1)
    with pytest.raises(ValidationError, match="x_of_y_x"):
        SettlementRules(x_of_y_x=6, x_of_y_y=5)
    with pytest.raises(ValidationError, match="delivery_tolerance_ppm"):
        SettlementRules(delivery_tolerance_ppm=1.5)
    with pytest.raises(ValidationError, match="isp_s"):
        SettlementRules(isp_s=0)
    rules = SettlementRules()
    with pytest.raises(ValidationError):
        rules.isp_s = 60  # frozen
    with pytest.raises(ValueError, match="fee_recipient"):
        net_obligations([], period=SID, fee_recipient="nope")
