// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice settleNetting: deltas plus fee net to zero or the call reverts (issue 7).
contract NettingTest is MarketTestBase {
    bytes32 internal constant PERIOD = keccak256("2026-11-27");

    /// @dev After this: fsp1 350, fsp2 300, dso 350 credited.
    function _credited() internal {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
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
        market.settleNetting(PERIOD, _three(fsp1, fsp3, dso2), _amounts(-100e6, 60e6, 35e6), 5e6, clearingHouse);
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

    function test_settleNetting_revertsUnlessDeltasNetToZero() public {
        _credited();
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketNettingNotBalanced.selector, PERIOD, int256(-4e6), 5e6)
        );
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, fsp3, dso2), _amounts(-100e6, 61e6, 35e6), 5e6, clearingHouse);
    }

    function test_settleNetting_revertsWhenPeriodSettledTwice() public {
        _credited();
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, fsp3, dso2), _amounts(-10e6, 5e6, 5e6), 0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNettingAlreadySettled.selector, PERIOD));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp1, fsp3, dso2), _amounts(-10e6, 5e6, 5e6), 0, address(0));
    }

    function test_settleNetting_revertsWhenDebitExceedsCredit() public {
        _credited();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInsufficientCredit.selector, fsp3, 0, 10e6));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, _three(fsp3, fsp1, dso2), _amounts(-10e6, 5e6, 5e6), 0, address(0));
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

    function testFuzz_settleNetting_conservesTotalCredit(uint96 debitSeed, uint96 feeSeed, uint96 splitSeed) public {
        _credited();
        uint256 debit = bound(debitSeed, 1, 350e6);
        uint256 fee = bound(feeSeed, 0, debit);
        uint256 toFsp3 = bound(splitSeed, 0, debit - fee);
        uint256 toDso2 = debit - fee - toFsp3;
        uint256 before = market.totalCredited();
        vm.prank(clearingHouse);
        market.settleNetting(
            PERIOD,
            _three(dso, fsp3, dso2),
            _amounts(-int256(debit), int256(toFsp3), int256(toDso2)),
            fee,
            clearingHouse
        );
        assertEq(market.totalCredited(), before, "netting conserves credit");
        assertEq(market.credits(dso), 350e6 - debit, "debit");
        assertEq(market.credits(clearingHouse), fee, "fee");
    }
}
