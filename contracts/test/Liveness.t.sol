// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice refundStuck (issue 16): a step not posted by its deadline plus LIVENESS_GRACE lets
/// anyone release the escrow; before the deadline, twice, or with no step pending it reverts.
contract LivenessTest is MarketTestBase {
    uint64 internal constant GRACE = 7 days;

    function _empty() internal pure returns (IFlexMarket.Reservation[] memory) {
        return new IFlexMarket.Reservation[](0);
    }

    function _open() internal {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
    }

    function _awards() internal view returns (uint256) {
        return market.positionBalance(fsp1, uint256(2) << 248) + market.positionBalance(fsp2, uint256(2) << 248);
    }

    function test_stuckDeadline_followsTheState() public {
        assertEq(market.stuckDeadline(SID), 0, "None: no step pending");
        _open();
        assertEq(market.stuckDeadline(SID), _gate(SID) + GRACE, "Open: clearing due by delivery start");
        _commit(fsp2, SID);
        _close(SID);
        assertEq(market.stuckDeadline(SID), _gate(SID) + GRACE, "Closed: clearing due by delivery start");
        _clear(SID, _two(_res(RID, fsp1, 400e6), _res(RID, fsp2, 300e6)));
        assertEq(market.stuckDeadline(SID), _deliveryEnd() + GRACE, "Cleared: attestation due by delivery end");
        _attest(SID, _payouts(350e6, 300e6));
        assertEq(market.stuckDeadline(SID), 0, "Verified: anyone can finalize");
        vm.prank(fsp1);
        market.dispute(SID, keccak256("reason"), bytes32(0));
        assertEq(market.stuckDeadline(SID), _deliveryEnd() + WINDOW + GRACE, "Disputed: resolution due by window end");
    }

    function test_refundStuck_openSessionRefundsTheDso() public {
        _open();
        vm.warp(_gate(SID) + GRACE);
        vm.expectEmit(address(market));
        emit IFlexMarket.SessionRefundedStuck(SID, IFlexMarket.State.Open, _gate(SID) + GRACE, stranger);
        vm.prank(stranger); // anyone
        market.refundStuck(SID, _ids(SID), _empty(), new uint128[](0));
        assertEq(market.credits(dso), BUDGET, "budget credited back (pull)");
        assertEq(token.balanceOf(dso), 0, "nothing pushed");
        assertEq(market.totalEscrowed(), 0, "escrow released");
        assertEq(market.positionBalance(dso, uint256(1) << 248), 0, "REQUEST burned");
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Final), "final");
    }

    function test_refundStuck_clearedSessionBurnsAwardsAndRefunds() public {
        _cleared();
        assertEq(_awards(), 700e6, "awards before");
        vm.warp(_deliveryEnd() + GRACE);
        market.refundStuck(SID, _ids(SID), _resv(SID), new uint128[](0));
        assertEq(market.credits(dso), BUDGET, "whole budget back");
        assertEq(market.credits(fsp1) + market.credits(fsp2), 0, "nothing paid without attestation");
        assertEq(_awards(), 0, "awards burned");
        assertEq(market.totalEscrowed(), 0, "escrow released");
    }

    function test_refundStuck_disputedSessionKeepsAttestedPayouts() public {
        _verified();
        vm.prank(dso);
        market.dispute(SID, keccak256("reason"), RID);
        vm.warp(_deliveryEnd() + WINDOW + GRACE);
        market.refundStuck(SID, _ids(SID), _resv(SID), _paid(SID));
        assertEq(market.credits(fsp1), 350e6, "attested payout stands");
        assertEq(market.credits(fsp2), 300e6, "attested payout stands");
        assertEq(market.credits(dso), 350e6, "the rest refunded");
        assertEq(market.totalEscrowed(), 0, "escrow released");
    }

    function test_refundStuck_revertsBeforeTheDeadline() public {
        _cleared();
        uint64 deadline = _deliveryEnd() + GRACE;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooEarly.selector, SID, deadline, deadline - 1));
        market.refundStuck(SID, _ids(SID), _resv(SID), new uint128[](0));
    }

    function test_refundStuck_revertsTwice() public {
        _open();
        vm.warp(_gate(SID) + GRACE);
        market.refundStuck(SID, _ids(SID), _empty(), new uint128[](0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketAlreadyFinalized.selector, SID));
        market.refundStuck(SID, _ids(SID), _empty(), new uint128[](0));
    }

    function test_refundStuck_revertsWhenNoStepIsPending() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotStuck.selector, SID, IFlexMarket.State.None));
        market.refundStuck(SID, new bytes32[](0), _empty(), new uint128[](0));
        _verified();
        vm.warp(_deliveryEnd() + WINDOW + GRACE);
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketNotStuck.selector, SID, IFlexMarket.State.Verified)
        );
        market.refundStuck(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    function test_refundStuck_revertsOnWrongLists() public {
        _cleared();
        vm.warp(_deliveryEnd() + GRACE);
        bytes32 expected = market.session(SID).reservationsHash;
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketReservationsMismatch.selector, SID, expected, keccak256(abi.encode(_empty()))
            )
        );
        market.refundStuck(SID, _ids(SID), _empty(), new uint128[](0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketPayoutCountMismatch.selector, SID, 0, 2));
        market.refundStuck(SID, _ids(SID), _resv(SID), _payouts(1, 1));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestCountMismatch.selector, SID, 1, 0));
        market.refundStuck(SID, new bytes32[](0), _resv(SID), new uint128[](0));
    }

    function test_refundStuck_openSessionRefusesAReservationList() public {
        _open();
        vm.warp(_gate(SID) + GRACE);
        IFlexMarket.Reservation[] memory fake = _two(_res(RID, fsp1, 1), _res(RID, fsp1, 1));
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketReservationsMismatch.selector, SID, bytes32(0), keccak256(abi.encode(fake))
            )
        );
        market.refundStuck(SID, _ids(SID), fake, new uint128[](0));
    }

    function test_lateSteps_revertAfterRefund() public {
        _open();
        vm.warp(_gate(SID) + GRACE);
        market.refundStuck(SID, _ids(SID), _empty(), new uint128[](0));
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Open, IFlexMarket.State.Final));
        vm.prank(operator);
        market.closeSession(SID);
    }
}
