// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice commitReadingsDigests (issue 16, item 4): the meter oracle fixes the root over the
/// CPO-signed readings digests while the session is Cleared, once; any other role, any other
/// state (so also after attestation) and a second root revert.
contract ReadingsDigestsTest is MarketTestBase {
    bytes32 internal constant DIGESTS = keccak256("readings-digests-root");

    function test_commit_inCleared_emitsTheRoot() public {
        _cleared();
        vm.expectEmit(address(market));
        emit IFlexMarket.ReadingsDigestsCommitted(SID, DIGESTS);
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
        // attestation still follows as usual
        _attest(SID, _payouts(350e6, 300e6));
        assertEq(uint256(market.session(SID).state), uint256(IFlexMarket.State.Verified), "verified");
    }

    function test_commit_wrongRole_reverts() public {
        _cleared();
        address[3] memory others = [operator, fsp1, stranger];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(_unauthorized(others[i], market.METER_ORACLE_ROLE()));
            vm.prank(others[i]);
            market.commitReadingsDigests(SID, DIGESTS);
        }
    }

    function test_commit_beforeClearing_reverts() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.Open));
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
        _close(SID);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.Closed));
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
    }

    function test_commit_unknownSession_reverts() public {
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.None));
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
    }

    function test_commit_afterAttestation_reverts() public {
        _verified();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.Verified));
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
    }

    function test_commit_twice_reverts() public {
        _cleared();
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketReadingsAlreadyCommitted.selector, SID));
        vm.prank(oracle);
        market.commitReadingsDigests(SID, keccak256("another root"));
    }

    function test_commit_keepsTheSessionSlots() public {
        _cleared();
        IFlexMarket.SessionInfo memory before = market.session(SID);
        vm.prank(oracle);
        market.commitReadingsDigests(SID, DIGESTS);
        IFlexMarket.SessionInfo memory afterwards = market.session(SID);
        assertEq(afterwards.reserved, before.reserved, "reserved unchanged");
        assertEq(afterwards.paid, before.paid, "paid unchanged");
        assertEq(afterwards.reservationCount, before.reservationCount, "reservation count unchanged");
        assertEq(afterwards.requestCount, before.requestCount, "request count unchanged");
    }
}
