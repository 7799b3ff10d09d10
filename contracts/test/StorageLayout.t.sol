// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice Pins the storage layout documented in contracts/README.md: every variable of
/// FlexMarketStorage is read back from its raw slot after one whole lifecycle and a netting.
/// A variable added, removed or moved ahead of another one fails here.
contract StorageLayoutTest is MarketTestBase {
    bytes32 internal constant PERIOD = SID; // a session period: the session's own id

    function setUp() public override {
        super.setUp();
        _verified();
        _afterWindow();
        _finalize(SID);
        vm.prank(fsp1);
        market.withdraw();
        address[] memory payees = new address[](1);
        payees[0] = stranger;
        vm.prank(fsp1);
        market.nameNettingPayees(payees, true);
        address[] memory members = new address[](2);
        (members[0], members[1]) = (stranger, fsp1); // ascending: 0x0BAD < 0xF5B1
        int256[] memory amounts = new int256[](2);
        (amounts[0], amounts[1]) = (int256(7), int256(-7));
        vm.prank(clearingHouse);
        market.settleNetting(PERIOD, members, amounts, 0, address(0));
    }

    function _word(uint256 slot) internal view returns (uint256) {
        return uint256(vm.load(address(market), bytes32(slot)));
    }

    function _mapSlot(bytes32 key, uint256 slot) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(key, slot)));
    }

    /// @dev Participant slot +1: credit (96) | awarded (64) | received (64) | indexPlusOne (24) | fsp.
    function _participantIndex(address account) internal view returns (uint256) {
        return uint24(_word(_mapSlot(bytes32(uint256(uint160(account))), 4) + 1) >> 224) - 1;
    }

    function test_plainSlots() public view {
        assertEq(_word(6), market.sessionCount(), "slot 6: _sessionCount");
        assertEq(_word(7), 9, "slot 7: _participantList length (9 registered in setUp)");
        assertEq(_word(8), market.totalDeposited(), "slot 8: _totalDeposited");
        uint256 totals = _word(9);
        assertEq(uint128(totals), market.totalCredited(), "slot 9 low: _totalCredited");
        assertEq(totals >> 128, market.totalWithdrawn(), "slot 9 high: _totalWithdrawn");
        assertTrue(market.totalCredited() != 0 && market.totalWithdrawn() != 0, "both totals non-zero");
    }

    function test_sessionsAtSlot1() public view {
        uint256 base = _mapSlot(SID, 1);
        IFlexMarket.SessionInfo memory info = market.session(SID);
        uint256 schedule = _word(base);
        assertEq(uint8(schedule), uint8(IFlexMarket.State.Final), "state at offset 0");
        assertEq(uint40(schedule >> 8), info.gateClosure, "gateClosure at offset 1");
        assertEq(uint40(schedule >> 192), info.verifiedAt, "verifiedAt at offset 24");
        uint256 counters = _word(base + 1);
        assertEq(uint8(counters), info.requestCount, "requestCount at slot +1");
        assertEq(uint72(counters >> 24), info.budget, "budget at offset 3");
        assertEq(uint72(counters >> 168), info.paid, "paid at offset 21");
        assertEq(bytes32(_word(base + 2)), info.reservationsHash, "reservationsHash at slot +2");
        assertEq(bytes32(_word(base + 3)), info.payoutsHash, "payoutsHash at slot +3");
        assertEq(bytes32(_word(base + 6)), info.termsHash, "termsHash at slot +6");
        assertTrue(info.termsHash != 0, "termsHash non-zero");
    }

    function test_commitmentBitsAtSlot2() public view {
        // fsp1's participant index picks word index >> 8, bit index & 0xff of _committed[SID]
        uint256 index = _participantIndex(fsp1);
        uint256 slot = uint256(keccak256(abi.encode(index >> 8, _mapSlot(SID, 2))));
        assertTrue(_word(slot) & (uint256(1) << (index & 0xff)) != 0, "_committed[SID] bit of fsp1");
        assertTrue(market.hasCommitted(SID, fsp1), "hasCommitted agrees");
    }

    function test_requestsAtSlot3() public view {
        uint256 base = _mapSlot(RID, 3);
        IFlexMarket.RequestInfo memory info = market.request(RID);
        uint256 packed = _word(base);
        assertEq(address(uint160(packed)), info.dso, "dso at offset 0");
        assertEq(uint64(packed >> 192), info.budget, "budget at offset 24");
        assertEq(bytes32(_word(base + 1)), info.requestHash, "requestHash at slot +1");
    }

    function test_participantsAtSlot4() public view {
        uint256 base = _mapSlot(bytes32(uint256(uint160(fsp2))), 4);
        assertEq(bytes32(_word(base)), market.participantMetadata(fsp2), "metadataHash at slot +0");
        uint256 ledger = _word(base + 1);
        assertEq(uint96(ledger), market.credits(fsp2), "credit at slot +1 offset 0");
        assertTrue(market.credits(fsp2) != 0, "fsp2 has not withdrawn");
        assertEq(uint24(ledger >> 224), _participantIndex(fsp2) + 1, "indexPlusOne at offset 28");
        assertTrue(uint24(ledger >> 224) != 0, "non-zero once registered");
        assertEq(ledger >> 248, 1, "fsp flag at offset 31");
    }

    function test_nettingPayeesAtSlot10() public view {
        uint256 slot = uint256(keccak256(abi.encode(stranger, _mapSlot(bytes32(uint256(uint160(fsp1))), 10))));
        assertEq(_word(slot), 1, "_nettingPayees[fsp1][stranger]");
        assertTrue(market.isNettingPayee(fsp1, stranger), "view agrees");
    }

    /// @dev Issue 19: setUp's netting debits fsp1 (which withdrew everything) 7 units for
    /// stranger: receivables.owed[fsp1][stranger] at slot 12, fsp1's creditor list at slot 13.
    function test_receivablesAtSlots12And13() public view {
        uint256 owed = uint256(keccak256(abi.encode(stranger, _mapSlot(bytes32(uint256(uint160(fsp1))), 12))));
        assertEq(_word(owed), 7, "_receivables.owed[fsp1][stranger]");
        assertEq(market.receivable(fsp1, stranger), 7, "view agrees");
        uint256 list = _mapSlot(bytes32(uint256(uint160(fsp1))), 13);
        assertEq(_word(list), 1, "_receivables.creditors[fsp1].length");
        assertEq(_word(uint256(keccak256(abi.encode(list)))), uint256(uint160(stranger)), "[0]");
    }

    function test_nettingAtSlot5() public view {
        assertEq(_word(_mapSlot(PERIOD, 5)), 1, "_nettingSettled[PERIOD]");
        assertTrue(market.nettingSettled(PERIOD), "view agrees");
    }
}
