// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice Fuzzed amounts and times (seeded in foundry.toml).
contract FlexMarketFuzzTest is MarketTestBase {
    function testFuzz_lifecycle_budgetEqualsPayoutsPlusRefund(
        uint96 budgetSeed,
        uint128 r1Seed,
        uint128 r2Seed,
        uint128 p1Seed,
        uint128 p2Seed
    ) public {
        uint256 budget = bound(budgetSeed, 2, type(uint64).max);
        uint128 r1 = uint128(bound(r1Seed, 1, budget - 1));
        uint128 r2 = uint128(bound(r2Seed, 1, budget - r1));
        uint128 p1 = uint128(bound(p1Seed, 0, r1));
        uint128 p2 = uint128(bound(p2Seed, 0, r2));
        _create(SID);
        _post(dso, SID, RID, budget);
        _commit(fsp1, SID);
        _commit(fsp2, SID);
        _close(SID);
        _clear(SID, _two(_res(RID, fsp1, r1), _res(RID, fsp2, r2)));
        _attest(SID, _payouts(p1, p2));
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        assertEq(market.credits(fsp1), p1, "fsp1 payout");
        assertEq(market.credits(fsp2), p2, "fsp2 payout");
        assertEq(market.credits(dso), budget - p1 - p2, "dso refund");
        assertEq(market.totalCredited(), budget, "all of the budget credited");
        if (budget - p1 - p2 != 0) {
            vm.prank(dso);
            market.withdraw();
        }
        assertEq(token.balanceOf(address(market)), uint256(p1) + p2, "payouts remain until pulled");
    }

    function testFuzz_postClearing_revertsWhenReservationsExceedBudget(uint96 budgetSeed, uint96 excessSeed) public {
        uint256 budget = bound(budgetSeed, 1, type(uint64).max - 1);
        uint256 excess = bound(excessSeed, 1, type(uint64).max - budget);
        _create(SID);
        _post(dso, SID, RID, budget);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, uint128(budget + excess));
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketBudgetExceeded.selector, RID, budget, budget + excess)
        );
        _clear(SID, list);
    }

    function testFuzz_attestDelivery_revertsWhenAnyPayoutExceedsReservation(uint128 reservedSeed, uint128 overSeed)
        public
    {
        uint128 reserved = uint128(bound(reservedSeed, 1, BUDGET));
        uint128 payout = uint128(bound(overSeed, uint256(reserved) + 1, type(uint128).max));
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, reserved);
        _clear(SID, list);
        uint128[] memory payouts = new uint128[](1);
        payouts[0] = payout;
        vm.warp(_deliveryEnd());
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketPayoutExceedsReservation.selector, SID, 0, reserved, payout)
        );
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), payouts);
    }

    function testFuzz_createSession_acceptsExactlyValidSchedules(
        uint32 gateOffset,
        uint32 startOffset,
        uint32 length,
        uint32 isp
    ) public {
        uint64 gate = T0 + uint64(gateOffset);
        uint64 start = gate + uint64(startOffset) - uint64(bound(startOffset, 0, 1)); // sometimes start < gate
        uint64 end = start + uint64(length);
        bool valid = gate > T0 && start >= gate && end > start && isp != 0 && (end - start) % isp == 0;
        if (!valid) vm.expectRevert();
        vm.prank(operator);
        market.createSession(SID, gate, start, end, isp, WINDOW, TERMS);
        if (valid) assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Open), "opened");
    }

    function testFuzz_postRequest_acceptedOnlyBeforeGateClosure(uint32 dt) public {
        _create(SID);
        _fund(dso, BUDGET);
        vm.warp(T0 + uint256(dt) % 7200);
        bool open = block.timestamp < T0 + 3600;
        if (!open) {
            vm.expectRevert(
                abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, T0 + 3600, block.timestamp)
            );
        }
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function testFuzz_dispute_acceptedOnlyInsideWindow(uint32 dt) public {
        _verified();
        uint256 at = _deliveryEnd() + (uint256(dt) % (2 * WINDOW));
        vm.warp(at);
        uint64 deadline = _deliveryEnd() + WINDOW;
        if (at >= deadline) {
            vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, deadline, at));
        }
        vm.prank(fsp2);
        market.dispute(SID, bytes32("reason"), bytes32(0));
    }

    function testFuzz_finalize_acceptedOnlyAfterWindow(uint32 dt) public {
        _verified();
        uint256 at = _deliveryEnd() + (uint256(dt) % (2 * WINDOW));
        vm.warp(at);
        uint64 deadline = _deliveryEnd() + WINDOW;
        if (at < deadline) {
            vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooEarly.selector, SID, deadline, at));
        }
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }
}
