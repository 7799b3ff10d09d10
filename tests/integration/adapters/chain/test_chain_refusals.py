"""Every refusal surfaces as a named Python exception, raised before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.chain import errors as E
from adapters.chain.anvil import AnvilNode
from adapters.chain.deploy import MarketContracts
from adapters.chain.types import Reservation, SessionState

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BUDGET = 1_000 * 1_000_000
RESERVED = 600 * 1_000_000
PAYOUT = 500 * 1_000_000
SESSION = b"\x11" * 32
REQUEST = b"\x22" * 32
CP = b"\x33" * 32
H = b"\x44" * 32
TERMS = b"\x7e" * 32  # the session terms hash (any value: the contract only stores it)


@dataclass
class Session:
    """A session walked to some state by the test's helpers."""

    contracts: MarketContracts
    parties: object
    node: AnvilNode
    gate_closure: int = 0
    delivery_end: int = 0
    challenge_window: int = 1800

    def open(self) -> Session:
        m, p = self.contracts.market, self.parties
        now = self.node.block_timestamp()
        self.gate_closure = now + 600
        self.delivery_end = self.gate_closure + 3600
        m.create_session(
            SESSION,
            self.gate_closure,
            self.gate_closure,
            self.delivery_end,
            900,
            self.challenge_window,
            TERMS,
            sender=p.operator,
        )
        self.contracts.token.approve(m.address, BUDGET, sender=p.dso)
        m.post_request(SESSION, REQUEST, CP, H, BUDGET, sender=p.dso)
        m.commit_offers(SESSION, b"\x55" * 32, 3, b"\x01" * 32, b"\x02" * 32, sender=p.fsps[0])
        return self

    def closed(self) -> Session:
        self.open()
        self.node.warp_to(self.gate_closure)
        self.contracts.market.close_session(SESSION, sender=self.parties.operator)
        return self

    def cleared(self) -> Session:
        self.closed()
        res = [Reservation(REQUEST, self.parties.fsps[0], RESERVED)]
        self.contracts.market.post_clearing(SESSION, H, H, res, sender=self.parties.operator)
        return self

    def verified(self) -> Session:
        self.cleared()
        self.node.warp_to(self.delivery_end)
        self.contracts.market.attest_delivery(SESSION, H, [PAYOUT], sender=self.parties.oracle)
        return self

    def final(self) -> Session:
        self.verified()
        self.node.warp_to(self.delivery_end + self.challenge_window + 1)
        self.contracts.market.finalize(SESSION, sender=self.parties.outsider)
        return self


@pytest.fixture
def s(deployment: MarketContracts, parties, anvil_node: AnvilNode) -> Session:
    return Session(deployment, parties, anvil_node)


def _nonce(s: Session, who: str) -> int:
    return int(s.contracts.client.rpc("eth_getTransactionCount", [who, "latest"]), 16)


# --- wrong role ------------------------------------------------------------------------------


def test_create_session_by_an_fsp_is_not_authorized(s: Session) -> None:
    p = s.parties
    now = s.node.block_timestamp()
    before = _nonce(s, p.fsps[0])
    with pytest.raises(E.AccessControlUnauthorizedAccount) as info:
        s.contracts.market.create_session(
            SESSION, now + 60, now + 60, now + 960, 900, 60, TERMS, sender=p.fsps[0]
        )
    assert isinstance(info.value, E.NotAuthorized)
    assert info.value.account == p.fsps[0]
    assert info.value.neededRole == s.contracts.market.role("MARKET_OPERATOR")
    assert "MARKET_OPERATOR_ROLE" in str(info.value) and "createSession" in str(info.value)
    assert _nonce(s, p.fsps[0]) == before, "a refused call is never sent"


def test_commit_by_an_unregistered_account_is_not_authorized(s: Session) -> None:
    s.open()
    with pytest.raises(E.NotAuthorized):
        s.contracts.market.commit_offers(
            SESSION, b"\x66" * 32, 1, b"\x01" * 32, b"\x02" * 32, sender=s.parties.outsider
        )


def test_attest_by_someone_other_than_the_meter_oracle_is_not_authorized(s: Session) -> None:
    s.cleared()
    s.node.warp_to(s.delivery_end)
    with pytest.raises(E.AccessControlUnauthorizedAccount):
        s.contracts.market.attest_delivery(SESSION, H, [PAYOUT], sender=s.parties.fsps[0])


def test_minting_settlement_tokens_needs_the_minter_role(s: Session) -> None:
    with pytest.raises(E.AccessControlUnauthorizedAccount):
        s.contracts.token.mint(s.parties.dso, 1, sender=s.parties.dso)


# --- wrong state -----------------------------------------------------------------------------


def test_request_after_the_session_closed_is_refused_as_session_not_open(s: Session) -> None:
    s.closed()
    with pytest.raises(E.SessionNotOpen) as info:
        s.contracts.market.post_request(SESSION, b"\x77" * 32, CP, H, BUDGET, sender=s.parties.dso)
    assert isinstance(info.value, E.FlexMarketNotInState)
    assert info.value.expected is SessionState.OPEN and info.value.actual is SessionState.CLOSED
    assert "expected=OPEN" in str(info.value)


def test_attest_before_clearing_is_in_the_wrong_state(s: Session) -> None:
    s.closed()
    with pytest.raises(E.FlexMarketNotInState) as info:
        s.contracts.market.attest_delivery(SESSION, H, [PAYOUT], sender=s.parties.oracle)
    assert not isinstance(info.value, E.SessionNotOpen)
    assert info.value.expected is SessionState.CLEARED


# --- too early / too late --------------------------------------------------------------------


def test_request_after_gate_closure_is_too_late(s: Session) -> None:
    s.open()
    s.node.warp_to(s.gate_closure)
    with pytest.raises(E.FlexMarketTooLate) as info:
        s.contracts.market.post_request(SESSION, b"\x78" * 32, CP, H, BUDGET, sender=s.parties.dso)
    assert isinstance(info.value, E.GateClosed)
    assert info.value.deadline == s.gate_closure


def test_close_before_gate_closure_is_too_early(s: Session) -> None:
    s.open()
    with pytest.raises(E.FlexMarketTooEarly) as info:
        s.contracts.market.close_session(SESSION, sender=s.parties.operator)
    assert isinstance(info.value, E.TooEarly)


def test_finalize_inside_the_challenge_window_is_too_early(s: Session) -> None:
    s.verified()
    with pytest.raises(E.TooEarly):
        s.contracts.market.finalize(SESSION, sender=s.parties.outsider)


# --- over budget -----------------------------------------------------------------------------


def test_reservations_above_the_request_budget_are_refused(s: Session) -> None:
    s.closed()
    res = [Reservation(REQUEST, s.parties.fsps[0], BUDGET + 1)]
    with pytest.raises(E.BudgetExceeded) as info:
        s.contracts.market.post_clearing(SESSION, H, H, res, sender=s.parties.operator)
    assert isinstance(info.value, E.FlexMarketBudgetExceeded)
    assert (info.value.budget, info.value.reserved) == (BUDGET, BUDGET + 1)


def test_payout_above_its_reservation_is_refused(s: Session) -> None:
    s.cleared()
    s.node.warp_to(s.delivery_end)
    with pytest.raises(E.FlexMarketPayoutExceedsReservation):
        s.contracts.market.attest_delivery(SESSION, H, [RESERVED + 1], sender=s.parties.oracle)


def test_request_without_allowance_fails_in_the_token(s: Session) -> None:
    now = s.node.block_timestamp()
    m = s.contracts.market
    m.create_session(
        SESSION, now + 600, now + 600, now + 1500, 900, 60, TERMS, sender=s.parties.operator
    )
    with pytest.raises(E.ERC20InsufficientAllowance):
        m.post_request(SESSION, REQUEST, CP, H, BUDGET, sender=s.parties.dso)


# --- double finalize / double withdraw -------------------------------------------------------


def test_second_finalize_is_refused(s: Session) -> None:
    s.final()
    with pytest.raises(E.FlexMarketAlreadyFinalized) as info:
        s.contracts.market.finalize(SESSION, sender=s.parties.outsider)
    assert isinstance(info.value, E.WrongState)


def test_second_withdraw_finds_nothing(s: Session) -> None:
    s.final()
    m = s.contracts.market
    result = m.withdraw(sender=s.parties.fsps[0])
    assert result.event("Withdrawn").args["amount"] == PAYOUT
    with pytest.raises(E.NothingToWithdraw) as info:
        m.withdraw(sender=s.parties.fsps[0])
    assert isinstance(info.value, E.FlexMarketNothingToWithdraw)
    assert info.value.account == s.parties.fsps[0]


# --- disputes --------------------------------------------------------------------------------


def test_dispute_after_the_window_is_too_late(s: Session) -> None:
    s.verified()
    s.node.warp_to(s.delivery_end + s.challenge_window + 1)
    with pytest.raises(E.FlexMarketTooLate):
        s.contracts.market.dispute(SESSION, H, sender=s.parties.dso)


def test_dispute_before_attestation_is_in_the_wrong_state(s: Session) -> None:
    s.cleared()
    with pytest.raises(E.FlexMarketNotInState):
        s.contracts.market.dispute(SESSION, H, sender=s.parties.dso)


def test_dispute_by_a_non_party_is_refused(s: Session) -> None:
    s.verified()
    with pytest.raises(E.FlexMarketNotParty):
        s.contracts.market.dispute(SESSION, H, sender=s.parties.fsps[1])


def test_dispute_inside_the_window_then_arbiter_resolves_to_final(s: Session) -> None:
    s.verified()
    m = s.contracts.market
    m.dispute(SESSION, b"\x99" * 32, sender=s.parties.dso)
    assert m.session(SESSION).state is SessionState.DISPUTED
    with pytest.raises(E.FlexMarketNotInState):
        m.finalize(SESSION, sender=s.parties.outsider)
    with pytest.raises(E.NotAuthorized):
        m.resolve(SESSION, H, [100], sender=s.parties.operator)
    result = m.resolve(SESSION, b"\x98" * 32, [100 * 1_000_000], sender=s.parties.arbiter)
    assert result.event("SessionFinalized").args["totalPaid"] == 100 * 1_000_000
    assert m.session(SESSION).state is SessionState.FINAL
    assert m.credits(s.parties.dso) == BUDGET - 100 * 1_000_000


def test_dispute_by_a_dso_names_its_request_and_others_are_not_parties(s: Session) -> None:
    s.verified()
    m = s.contracts.market
    with pytest.raises(E.FlexMarketNotParty):  # registered DSO without a request here
        m.dispute(SESSION, H, sender=s.parties.outsider)
    m.dispute(SESSION, H, sender=s.parties.dso)
    assert m.session(SESSION).disputed_by == s.parties.dso


# --- calldata lists checked against the stored hashes ------------------------------------------


def test_finalize_with_a_tampered_reservation_list_is_refused(s: Session) -> None:
    s.verified()
    s.node.warp_to(s.delivery_end + s.challenge_window + 1)
    m = s.contracts.market
    (res,), payouts = m.reservations(SESSION)
    bad = [(res.request_id, res.fsp, res.amount + 1)]
    with pytest.raises(E.FlexMarketReservationsMismatch):
        m.contract.transact("finalize", SESSION, [REQUEST], bad, payouts, sender=s.parties.dso)
    with pytest.raises(E.FlexMarketPayoutsMismatch):
        m.contract.transact(
            "finalize", SESSION, [REQUEST], [res.as_abi()], [RESERVED], sender=s.parties.dso
        )
    with pytest.raises(E.FlexMarketRequestCountMismatch):
        m.contract.transact("finalize", SESSION, [], [res.as_abi()], payouts, sender=s.parties.dso)
    with pytest.raises(E.FlexMarketRequestListMismatch):
        m.contract.transact("finalize", SESSION, [H], [res.as_abi()], payouts, sender=s.parties.dso)
    m.finalize(SESSION, sender=s.parties.outsider)  # the wrapper passes the true lists
    assert m.credits(s.parties.fsps[0]) == PAYOUT


def test_attest_with_a_tampered_reservation_list_is_refused(s: Session) -> None:
    s.cleared()
    s.node.warp_to(s.delivery_end)
    m = s.contracts.market
    bad = [(REQUEST, s.parties.fsps[1], RESERVED)]
    with pytest.raises(E.FlexMarketReservationsMismatch):
        m.contract.transact("attestDelivery", SESSION, H, bad, [0], sender=s.parties.oracle)


def test_budget_above_uint64_is_refused(s: Session) -> None:
    s.open()
    with pytest.raises(E.FlexMarketAmountTooLarge):
        s.contracts.market.post_request(SESSION, b"\x23" * 32, CP, H, 2**64, sender=s.parties.dso)


# --- positions --------------------------------------------------------------------------------


def test_positions_cannot_be_transferred(s: Session) -> None:
    s.cleared()
    p = s.contracts.positions
    award = p.position_id(p.kind_award(), 0, 0)  # aggregated per holder: the id is the kind
    assert p.balance_of(s.parties.fsps[0], award) == RESERVED
    with pytest.raises(E.FlexPositionsNonTransferable):
        p.safe_transfer_from(
            s.parties.fsps[0], s.parties.dso, award, 1, b"", sender=s.parties.fsps[0]
        )


# --- liveness and netting bounds (issue 16) ---------------------------------------------------


def test_refund_stuck_before_the_deadline_is_too_early_then_refunds_the_dso(s: Session) -> None:
    s.cleared()
    m = s.contracts.market
    deadline = m.stuck_deadline(SESSION)
    assert deadline == s.delivery_end + m.liveness_grace_s()
    with pytest.raises(E.TooEarly):
        m.refund_stuck(SESSION, sender=s.parties.outsider)
    s.node.warp_to(deadline)
    m.refund_stuck(SESSION, sender=s.parties.outsider)  # anyone
    assert m.session(SESSION).state == SessionState.FINAL
    assert m.credits(s.parties.dso) == BUDGET
    assert m.total_escrowed() == 0
    with pytest.raises(E.WrongState):  # FlexMarketAlreadyFinalized
        m.refund_stuck(SESSION, sender=s.parties.outsider)


def test_refund_stuck_of_a_verified_session_is_not_stuck(s: Session) -> None:
    s.verified()
    with pytest.raises(E.WrongState, match="FlexMarketNotStuck"):
        s.contracts.market.refund_stuck(SESSION, sender=s.parties.outsider)


def test_netting_to_an_outsider_or_above_the_fee_cap_is_refused(s: Session, parties) -> None:
    s.final()
    m = s.contracts.market
    m.grant_role(m.role("CLEARING_HOUSE"), parties.operator, sender=parties.operator)
    fsp = s.parties.fsps[0]
    members = sorted([fsp, s.parties.outsider], key=lambda a: int(a, 16))
    amounts = [-100 if a == fsp else 100 for a in members]
    with pytest.raises(E.NotAuthorized, match="FlexMarketNotNettingParty"):
        m.settle_netting(SESSION, members, amounts, 0, fsp, sender=parties.operator)
    m.name_netting_payees([s.parties.outsider], sender=fsp)
    assert m.is_netting_payee(fsp, s.parties.outsider)
    cap = PAYOUT * m.netting_fee_cap_ppm() // 1_000_000
    with pytest.raises(E.BudgetExceeded, match="FlexMarketFeeAboveCap"):
        m.settle_netting(SESSION, [fsp], [-(cap + 1)], cap + 1, fsp, sender=parties.operator)
    m.settle_netting(SESSION, members, amounts, 0, fsp, sender=parties.operator)
    assert m.credits(s.parties.outsider) == 100
