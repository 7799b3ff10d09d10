// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {PeriodId} from "../types/Ids.sol";
import {FlexMarketLedger} from "./FlexMarketLedger.sol";

/// @title FlexMarketNetting
/// @notice Multilateral netting by the clearing house: one zero-sum set of debits and credits on
/// the credit ledger per period, plus an optional fee.
/// @dev Uniswap v4 style: all deltas plus the fee must net to zero or the call reverts, so
/// netting can only move credit between members and never create or destroy it.
abstract contract FlexMarketNetting is FlexMarketLedger {
    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_NETTING_MEMBERS = 256;
    /// @dev Netting amounts keep their earlier bound.
    uint256 private constant MAX_NET_AMOUNT = type(uint96).max;

    /// @inheritdoc IFlexMarket
    function settleNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external onlyRole(CLEARING_HOUSE_ROLE) {
        if (_nettingSettled[PeriodId.wrap(periodId)]) revert FlexMarketNettingAlreadySettled(periodId);
        _checkNetting(PeriodId.wrap(periodId), members, netAmounts, fee, feeRecipient);
        _nettingSettled[PeriodId.wrap(periodId)] = true;
        uint256 n = members.length;
        // debits first, so a member's credit from this period cannot fund its own debit
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount < 0) _debit(members[i], periodId, uint256(-amount));
        }
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > 0) _credit(members[i], periodId, uint256(amount));
        }
        if (fee != 0) _credit(feeRecipient, periodId, fee);
        // totalCredited is unchanged: debits == credits + fee was checked above
        emit NettingSettled(periodId, n, fee, feeRecipient);
    }

    /// @inheritdoc IFlexMarket
    function nettingSettled(bytes32 periodId) external view returns (bool) {
        return _nettingSettled[PeriodId.wrap(periodId)];
    }

    /// @dev Shape, range and the zero-sum rule: sum(netAmounts) + fee == 0.
    function _checkNetting(
        PeriodId periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) private pure {
        uint256 n = members.length;
        if (n != netAmounts.length) revert FlexMarketNettingLengthMismatch(n, netAmounts.length);
        if (n > MAX_NETTING_MEMBERS) revert FlexMarketTooManyMembers(n, MAX_NETTING_MEMBERS);
        if (fee != 0 && feeRecipient == address(0)) revert FlexMarketZeroAddress();
        if (fee > MAX_NET_AMOUNT) revert FlexMarketAmountTooLarge(fee, MAX_NET_AMOUNT);
        int256 sum;
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > int256(MAX_NET_AMOUNT) || amount < -int256(MAX_NET_AMOUNT)) {
                revert FlexMarketAmountTooLarge(
                    amount < 0 ? uint256(-(amount + 1)) + 1 : uint256(amount), MAX_NET_AMOUNT
                );
            }
            if (members[i] == address(0)) revert FlexMarketZeroAddress();
            sum += amount;
        }
        if (sum + int256(fee) != 0) revert FlexMarketNettingNotBalanced(PeriodId.unwrap(periodId), sum, fee);
    }
}
