// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {IFlexPositions} from "../interfaces/IFlexPositions.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice Request, award and receipt positions follow the session through its lifecycle.
/// Positions are aggregated per holder and kind: the id is positionId(kind, 0, 0).
contract FlexPositionsTest is MarketTestBase {
    function _id(uint8 kind, uint32 item) internal view returns (uint256) {
        return positions.positionId(kind, 0, item);
    }

    function test_requestPosition_isMintedToDsoAndBurnedOnCancel() public {
        _create(SID);
        _fund(dso, BUDGET);
        uint256 id = _id(1, 0);
        vm.expectEmit(address(positions));
        emit IERC1155.TransferSingle(address(market), address(0), dso, id, BUDGET);
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
        assertEq(positions.balanceOf(dso, id), BUDGET, "request position");
        assertEq(positions.balanceOf(dso2, id), 0, "other holder");
        vm.expectEmit(address(positions));
        emit IERC1155.TransferSingle(address(market), dso, address(0), id, BUDGET);
        vm.prank(dso);
        market.cancelRequest(SID, RID);
        assertEq(positions.balanceOf(dso, id), 0, "burned");
    }

    function test_awardPositions_areMintedAtClearingAndSwappedForReceiptsAtFinalize() public {
        _cleared();
        uint256 award = _id(2, 0);
        assertEq(positions.balanceOf(fsp1, award), 400e6, "award fsp1");
        assertEq(positions.balanceOf(fsp2, award), 300e6, "award fsp2");
        assertEq(positions.balanceOf(fsp3, award), 0, "fsp3 holds no award");
        _attest(SID, _payouts(350e6, 0));
        _afterWindow();
        vm.expectEmit(address(positions));
        emit IERC1155.TransferSingle(address(market), fsp1, address(0), award, 400e6);
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        assertEq(positions.balanceOf(fsp1, award), 0, "award burned");
        assertEq(positions.balanceOf(fsp2, award), 0, "award burned (zero payout)");
        assertEq(positions.balanceOf(dso, _id(1, 0)), 0, "request burned");
        assertEq(positions.balanceOf(fsp1, _id(3, 0)), 350e6, "receipt");
        assertEq(positions.balanceOf(fsp2, _id(3, 0)), 0, "no receipt for zero payout");
    }

    function test_positions_aggregateOverRequestsAndSessions() public {
        bytes32 sid2 = keccak256("session-2");
        _create(SID);
        _create(sid2);
        _post(dso, SID, RID, BUDGET);
        _post(dso, sid2, RID2, 2 * BUDGET);
        assertEq(positions.balanceOf(dso, _id(1, 0)), 3 * BUDGET, "two open requests");
        _commit(fsp1, SID);
        _commit(fsp1, sid2);
        _close(SID);
        vm.prank(operator);
        market.closeSession(sid2);
        IFlexMarket.Reservation[] memory one = new IFlexMarket.Reservation[](1);
        one[0] = _res(RID, fsp1, 100e6);
        _clear(SID, one);
        one[0] = _res(RID2, fsp1, 200e6);
        _clear(sid2, one);
        assertEq(positions.balanceOf(fsp1, _id(2, 0)), 300e6, "awards of both sessions");
        _attest(SID, _single(60e6));
        _afterWindow();
        _finalize(SID);
        assertEq(positions.balanceOf(fsp1, _id(2, 0)), 200e6, "session 2 award still open");
        assertEq(positions.balanceOf(fsp1, _id(3, 0)), 60e6, "session 1 receipt");
        assertEq(positions.balanceOf(dso, _id(1, 0)), 2 * BUDGET, "session 2 request still open");
    }

    function _single(uint128 a) internal pure returns (uint128[] memory p) {
        p = new uint128[](1);
        p[0] = a;
    }

    function test_balanceOfBatch_matchesSingleReads() public {
        _cleared();
        address[] memory accounts = new address[](2);
        uint256[] memory ids = new uint256[](2);
        accounts[0] = fsp1;
        accounts[1] = dso;
        ids[0] = _id(2, 0);
        ids[1] = _id(1, 0);
        uint256[] memory balances = positions.balanceOfBatch(accounts, ids);
        assertEq(balances[0], 400e6, "award");
        assertEq(balances[1], BUDGET, "request");
    }

    function test_balanceOf_isZeroForUnknownOrMalformedIds() public {
        _cleared();
        assertEq(positions.balanceOf(fsp1, _id(2, 9)), 0, "unknown item");
        assertEq(positions.balanceOf(fsp1, positions.positionId(2, 7, 0)), 0, "unknown session");
        assertEq(positions.balanceOf(fsp1, _id(9, 0)), 0, "unknown kind");
        assertEq(positions.balanceOf(fsp1, _id(2, 0) | (1 << 200)), 0, "stray bits");
    }

    function test_decodePositionId_roundTrips() public view {
        (uint8 kind, uint64 sessionIndex, uint32 item) = positions.decodePositionId(positions.positionId(3, 42, 7));
        assertEq(kind, 3, "kind");
        assertEq(sessionIndex, 42, "session");
        assertEq(item, 7, "item");
    }

    function test_transfers_revert() public {
        _cleared();
        bytes[] memory calls = new bytes[](3);
        calls[0] = abi.encodeCall(positions.safeTransferFrom, (fsp1, fsp2, _id(2, 0), 1, ""));
        calls[1] = abi.encodeCall(positions.safeBatchTransferFrom, (fsp1, fsp2, new uint256[](0), new uint256[](0), ""));
        calls[2] = abi.encodeCall(positions.setApprovalForAll, (fsp2, true));
        for (uint256 i = 0; i < calls.length; ++i) {
            vm.prank(fsp1);
            (bool ok, bytes memory ret) = address(positions).call(calls[i]);
            assertTrue(!ok, "reverted");
            assertEq(bytes4(ret), IFlexPositions.FlexPositionsNonTransferable.selector, "named error");
        }
        assertTrue(!positions.isApprovedForAll(fsp1, fsp2), "no approvals");
        assertEq(positions.balanceOf(fsp1, _id(2, 0)), 400e6, "still with fsp1");
    }

    function test_mint_revertsForAnyoneButTheMarket() public {
        bytes32 role = positions.MARKET_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        positions.mint(new address[](0), new uint256[](0), new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        positions.burn(new address[](0), new uint256[](0), new uint256[](0));
        assertEq(positions.market(), address(market), "market");
    }

    function test_mint_revertsOnLengthMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexPositions.FlexPositionsLengthMismatch.selector, 1, 0, 0));
        vm.prank(address(market));
        positions.mint(new address[](1), new uint256[](0), new uint256[](0));
    }

    function test_supportsInterface_reportsErc1155() public view {
        assertTrue(positions.supportsInterface(type(IERC1155).interfaceId), "erc1155");
        assertTrue(positions.supportsInterface(0x0e89341c), "metadata uri");
        assertTrue(positions.supportsInterface(0x01ffc9a7), "erc165");
        assertTrue(!positions.supportsInterface(0xffffffff), "not everything");
    }
}
