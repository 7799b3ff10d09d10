// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FlexMarket} from "../FlexMarket.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice settleNetting: deltas plus fee net to zero (issue 7), and netting is bounded on
/// chain (issue 16): the period is a Final session, members are its parties in ascending
/// order, the fee stays within the deployment's cap and goes to the platform.
contract NettingTest is MarketTestBase {
    /// @dev A session period: the session's own id.
    bytes32 internal constant PERIOD = SID;
    /// @dev The session pays 650e6; the cap of 20 000 ppm allows a fee of 13e6.
    uint256 internal constant FEE_CAP = 13e6;

    /// @dev After this: fsp1 350, fsp2 300, dso 350 credited; fsp1 and fsp2 (committed to SID)
    /// named dso, dso2, fsp3 and the clearing house (the platform that takes the fee).
    function _credited() internal {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        _name(fsp1, _four(dso, dso2, fsp3, clearingHouse));
        _name(fsp2, _four(dso, dso2, fsp3, clearingHouse));
    }

    function _name(address fsp, address[] memory payees) internal {
        vm.prank(fsp);
        market.nameNettingPayees(payees, true);
    }

    function _one(address a) internal pure returns (address[] memory m) {
        m = new address[](1);
        m[0] = a;
    }

    function _four(address a, address b, address c, address d) internal pure returns (address[] memory m) {
        m = new address[](4);
        m[0] = a;
        m[1] = b;
        m[2] = c;
        m[3] = d;
    }

    function _three(address a, address b, address c) internal pure returns (address[] memory m) {
        m = new address[](3);
        m[0] = a;
        m[1] = b;
        m[2] = c;
    }

    function _amounts(int256 a, int256 b, int256 c) internal pure returns (int256[] memory x) {
        x = new int256[](3);
        x[0] = a;
        x[1] = b;
        x[2] = c;
    }

    function test_settleNetting_movesCreditAndPaysFee() public {
        _credited();
        vm.expectEmit(address(market));
        emit IFlexMarket.NettingSettled(PERIOD, 3, 5e6, clearingHouse);
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(35e6, -100e6, 60e6), 5e6, clearingHouse);
        assertEq(market.credits(fsp1), 250e6, "debited");
        assertEq(market.credits(fsp3), 60e6, "credited");
        assertEq(market.credits(dso2), 35e6, "credited");
        assertEq(market.credits(clearingHouse), 5e6, "fee");
        assertEq(market.totalCredited(), BUDGET, "total unchanged");
        assertTrue(market.nettingSettled(PERIOD), "settled");
        vm.prank(fsp3);
        market.withdraw();
        assertEq(token.balanceOf(fsp3), 60e6, "member withdraws its net");
    }

    function test_settleNetting_acceptsFeeAtCapToANamedPlatform() public {
        _credited();
        _name(fsp1, _one(operator));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(0, -int256(FEE_CAP), 0), FEE_CAP, operator);
        assertEq(market.credits(operator), FEE_CAP, "fee at the cap, paid to the named platform");
    }

    function test_settleNetting_revertsUnlessDeltasNetToZero() public {
        _credited();
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketNettingNotBalanced.selector, PERIOD, int256(-4e6), 5e6)
        );
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(35e6, -100e6, 61e6), 5e6, clearingHouse);
    }

    function test_settleNetting_revertsWhenPeriodSettledTwice() public {
        _credited();
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(5e6, -10e6, 5e6), 0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingAlreadySettled.selector, PERIOD));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(5e6, -10e6, 5e6), 0, address(0));
    }

    /// @dev fsp2 holds 300e6 and owes 400e6: the netting takes its credit, pays dso2 in full
    /// and fsp3 100e6 of 200e6; the 100e6 fsp2 could not cover is its receivable owed to fsp3.
    function _short() internal {
        vm.expectEmit(address(market));
        emit IFlexMarket.ReceivableRecorded(fsp2, fsp3, PERIOD, 100e6);
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp2, fsp3), _amounts(200e6, -400e6, 200e6), 0, address(0));
    }

    function test_settleNetting_carriesForwardWhatCreditCannotCover() public {
        _credited();
        _short();
        assertEq(market.credits(fsp2), 0, "the debtor's whole credit, no more");
        assertEq(market.credits(dso2), 200e6, "paid first, in member order");
        assertEq(market.credits(fsp3), 100e6, "paid what the debits covered");
        assertEq(market.receivable(fsp2, fsp3), 100e6, "the rest is owed on-chain");
        assertEq(market.receivableCreditors(fsp2).length, 1, "one creditor");
        assertEq(market.totalCredited(), BUDGET, "no credit created or destroyed");
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNothingToWithdraw.selector, fsp2));
        vm.prank(fsp2);
        market.withdraw();
    }

    function test_settleNetting_feeUnpaidIsOwedToItsRecipient() public {
        _credited();
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp2, fsp3), _amounts(300e6, -310e6, 0), 10e6, clearingHouse);
        assertEq(market.credits(dso2), 300e6, "members before the fee");
        assertEq(market.receivable(fsp2, clearingHouse), 10e6, "the fee is owed");
    }

    function test_settleNetting_noReceivableWhenCreditCovers() public {
        _credited(); // fsp1 holds 350e6: the operator cannot invent a receivable against it
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(100e6, -350e6, 250e6), 0, address(0));
        assertEq(market.receivableCreditors(fsp1).length, 0, "nothing owed");
        assertEq(market.credits(fsp3), 250e6, "paid in full");
    }

    function test_settleNetting_shortDebtorCannotOweAnOutsider() public {
        _credited(); // stranger was named by nobody: no receivable can be owed to it
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotNettingParty.selector, PERIOD, stranger));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(stranger, fsp2, fsp3), _amounts(400e6, -500e6, 100e6), 0, address(0));
    }

    function test_settleNetting_shortNettingCannotBeSettledTwice() public {
        _credited();
        _short();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingAlreadySettled.selector, PERIOD));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp2, fsp3), _amounts(200e6, -400e6, 200e6), 0, address(0));
        assertEq(market.receivable(fsp2, fsp3), 100e6, "recorded once");
    }

    bytes32 internal constant SID2 = keccak256("session-2");

    /// @dev SID as _credited, and SID2 (dso2's request, fsp2 paid 150e6) Verified alongside.
    function _twoSessions() internal {
        _create(SID2);
        _post(dso2, SID2, RID2, 200e6);
        _commit(fsp2, SID2);
        _cleared();
        vm.prank(operator);
        market.closeSession(SID2);
        IFlexMarket.Reservation[] memory one = new IFlexMarket.Reservation[](1);
        one[0] = _res(RID2, fsp2, 150e6);
        _clear(SID2, one);
        _attest(SID, _payouts(350e6, 300e6));
        uint128[] memory paid = new uint128[](1);
        paid[0] = 150e6;
        _attest(SID2, paid);
        _afterWindow();
        _finalize(SID);
        _name(fsp1, _four(dso, dso2, fsp3, clearingHouse));
        _name(fsp2, _four(dso, dso2, fsp3, clearingHouse));
        _short();
    }

    function test_withdraw_repaysTheReceivableFromTheNextCredit() public {
        _twoSessions();
        _finalize(SID2); // fsp2's next credit: 150e6
        vm.expectEmit(address(market));
        emit IFlexMarket.ReceivableRepaid(fsp2, fsp3, 100e6);
        vm.prank(fsp2);
        assertEq(market.withdraw(), 50e6, "what is left after the repayment");
        assertEq(market.credits(fsp3), 200e6, "the creditor is whole");
        assertEq(market.receivable(fsp2, fsp3), 0, "repaid");
        assertEq(market.receivableCreditors(fsp2).length, 0, "dropped");
    }

    function test_settleNetting_repaysEarlierReceivablesFromTheNewCredit() public {
        _twoSessions();
        _finalize(SID2);
        // SID2's netting moves nothing itself, yet repays its members' receivables first
        vm.prank(clearingHouse);
        market.settleNetting(SID2, _one(fsp2), new int256[](1), 0, address(0));
        assertEq(market.credits(fsp2), 50e6, "150e6 credit less the 100e6 owed");
        assertEq(market.credits(fsp3), 200e6, "repaid");
    }

    function test_repayReceivables_anyonePaysOnlyTheRecordedCreditor() public {
        _twoSessions();
        _finalize(SID2);
        vm.prank(stranger);
        assertEq(market.repayReceivables(fsp2), 100e6, "moved");
        assertEq(market.credits(stranger), 0, "the caller gets nothing");
        assertEq(market.credits(fsp3), 200e6, "only the creditor");
        assertEq(market.credits(fsp2), 50e6, "the rest stays the debtor's");
        assertEq(market.repayReceivables(fsp2), 0, "nothing owed: nothing moves");
        // both budgets are credited (SID2: 150e6 paid, 50e6 refunded); repaying moves no total
        assertEq(market.totalCredited(), BUDGET + 200e6, "ledger total unchanged by repayments");
    }

    function test_repayReceivables_withoutCreditMovesNothing() public {
        _twoSessions(); // fsp2 holds nothing until SID2 is final
        assertEq(market.repayReceivables(fsp2), 0, "nothing to repay from");
        assertEq(market.receivable(fsp2, fsp3), 100e6, "still owed");
    }

    function test_settleNetting_revertsOnDebitOfANamedPayee() public {
        _credited(); // dso holds a 350e6 refund credit and is named by fsp1
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingDebitNotFsp.selector, PERIOD, dso));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso, fsp1, fsp3), _amounts(-100e6, 100e6, 0), 0, address(0));
    }

    function test_settleNetting_revertsForNonClearingHouse() public {
        vm.expectRevert(_unauthorized(operator, market.CLEARING_HOUSE_ROLE()));
        vm.prank(operator);
        market.settleNetting(PERIOD, new address[](0), new int256[](0), 0, address(0));
    }

    function test_settleNetting_revertsOnLengthMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingLengthMismatch.selector, 3, 0));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, fsp2, fsp3), new int256[](0), 0, address(0));
    }

    function test_settleNetting_revertsBeyondMaxMembers() public {
        uint256 n = market.MAX_NETTING_MEMBERS() + 1;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyMembers.selector, n, n - 1));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, new address[](n), new int256[](n), 0, address(0));
    }

    function test_settleNetting_revertsOnFeeWithoutRecipient() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, new address[](0), new int256[](0), 1, address(0));
    }

    function test_settleNetting_revertsOnZeroAddressMember() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, address(0), dso2), _amounts(0, 0, 0), 0, address(0));
    }

    function test_settleNetting_revertsOnAmountOutOfRange() public {
        int256 huge = type(int256).min;
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketAmountTooLarge.selector, uint256(1) << 255, type(uint96).max)
        );
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, fsp2, dso2), _amounts(huge, 0, 0), 0, address(0));
    }

    // ---------------------------------------------------------------- bounds (issue 16)

    function test_settleNetting_revertsUnlessPeriodIsFinalSession() public {
        _verified(); // Verified, not Final
        vm.expectRevert(_notInState(PERIOD, IFlexMarket.State.Final, IFlexMarket.State.Verified));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, new address[](0), new int256[](0), 0, address(0));
        bytes32 day = keccak256("2026-11-27"); // not a session at all
        vm.expectRevert(_notInState(day, IFlexMarket.State.Final, IFlexMarket.State.None));
        vm.prank(clearingHouse);
        market.settleNetting(day, new address[](0), new int256[](0), 0, address(0));
    }

    function test_settleNetting_revertsForOutsiderMember() public {
        _credited();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotNettingParty.selector, PERIOD, stranger));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(stranger, fsp1, fsp3), _amounts(50e6, -60e6, 10e6), 0, address(0));
    }

    function test_settleNetting_revertsOnUnsortedOrDuplicateMembers() public {
        _credited();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingMembersNotSorted.selector, 1, dso2));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, dso2, fsp3), _amounts(-10e6, 5e6, 5e6), 0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingMembersNotSorted.selector, 2, fsp1));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp1), _amounts(10e6, -100e6, 90e6), 0, address(0));
    }

    function test_settleNetting_revertsOnFeeAboveCap() public {
        _credited();
        uint256 fee = FEE_CAP + 1;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketFeeAboveCap.selector, PERIOD, fee, FEE_CAP));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(0, -int256(fee), 0), fee, clearingHouse);
    }

    function test_settleNetting_revertsOnFeeToOutsider() public {
        _credited();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotNettingParty.selector, PERIOD, operator));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(0, -1e6, 0), 1e6, operator);
    }

    function test_settleNetting_countsOnlyNamingByADebitedFspOfTheSession() public {
        _credited();
        _name(fsp2, _one(stranger)); // fsp2 committed to SID, but this netting does not debit it
        _name(fsp3, _one(stranger)); // fsp3 is a member but never committed to SID
        vm.prank(operator);
        market.nameNettingPayees(_one(stranger), true); // the operator is no FSP of the session
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotNettingParty.selector, PERIOD, stranger));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _four(stranger, fsp1, fsp2, fsp3), _amounts4(50e6, -60e6, 0, 10e6), 0, address(0));
    }

    function _amounts4(int256 a, int256 b, int256 c, int256 d) internal pure returns (int256[] memory x) {
        x = new int256[](4);
        x[0] = a;
        x[1] = b;
        x[2] = c;
        x[3] = d;
    }

    function test_nameNettingPayees_namesAndWithdraws() public {
        vm.expectEmit(address(market));
        emit IFlexMarket.NettingPayeesNamed(fsp1, _one(stranger), true);
        _name(fsp1, _one(stranger));
        assertTrue(market.isNettingPayee(fsp1, stranger), "named");
        assertTrue(!market.isNettingPayee(fsp2, stranger), "by fsp1 only");
        vm.prank(fsp1);
        market.nameNettingPayees(_one(stranger), false);
        assertTrue(!market.isNettingPayee(fsp1, stranger), "withdrawn");
    }

    function test_settleNetting_refusesAPayeeWhoseNamingWasWithdrawn() public {
        _credited();
        vm.prank(fsp1);
        market.nameNettingPayees(_one(fsp3), false);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotNettingParty.selector, PERIOD, fsp3));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(dso2, fsp1, fsp3), _amounts(5e6, -10e6, 5e6), 0, address(0));
    }

    function test_nameNettingPayees_revertsOnZeroPayeeOrTooMany() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(fsp1);
        market.nameNettingPayees(new address[](1), true);
        uint256 n = market.MAX_NETTING_MEMBERS() + 1;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyMembers.selector, n, n - 1));
        vm.prank(fsp1);
        market.nameNettingPayees(new address[](n), true);
    }

    function test_constructor_revertsOnFeeCapAboveMax() public {
        uint256 max = market.MAX_NETTING_FEE_PPM();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidFeeCap.selector, max + 1, max));
        new FlexMarket(IERC20(address(token)), admin, max + 1);
        assertEq(market.nettingFeeCapPpm(), 20_000, "cap fixed at deployment");
    }

    function testFuzz_settleNetting_conservesTotalCredit(uint96 debitSeed, uint96 feeSeed, uint96 splitSeed) public {
        _credited();
        uint256 debit = bound(debitSeed, 1, 350e6);
        uint256 fee = bound(feeSeed, 0, debit < FEE_CAP ? debit : FEE_CAP);
        uint256 toFsp3 = bound(splitSeed, 0, debit - fee);
        uint256 toDso2 = debit - fee - toFsp3;
        uint256 before = market.totalCredited();
        vm.prank(clearingHouse);
        market.settleNetting(
            PERIOD,
            _three(dso2, fsp1, fsp3),
            _amounts(int256(toDso2), -int256(debit), int256(toFsp3)),
            fee,
            clearingHouse
        );
        assertEq(market.totalCredited(), before, "netting conserves credit");
        assertEq(market.credits(fsp1), 350e6 - debit, "debit");
        assertEq(market.credits(clearingHouse), fee, "fee");
    }
}
