// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {PeriodId, SessionId} from "../types/Ids.sol";
import {NettingLedger} from "../libraries/NettingLedger.sol";
import {FlexMarketLedger} from "./FlexMarketLedger.sol";
import {FlexMarketSessions} from "./FlexMarketSessions.sol";

/// @title FlexMarketNetting
/// @notice Multilateral netting by the clearing house: one zero-sum set of debits and credits on
/// the credit ledger per Final session, plus a fee capped at deployment.
/// @dev Uniswap v4 style: all deltas plus the fee must net to zero or the call reverts, so
/// netting can only move credit between members and never create or destroy it. Bounded on
/// chain (issue 16): the period is one Final session; only FSPs that committed offers to it
/// are debited; every other member, and the fee recipient, was named with nameNettingPayees
/// by one of the FSPs this netting debits, so money flows only from the session's FSPs to
/// accounts they chose, and the operator cannot add an outsider; members are strictly
/// ascending (no duplicates); the fee is at most the deployment's cap of the session's paid
/// amount. An FSP names its payees once, not per session: naming costs a storage slot per
/// payee, so a per-session list would cost every session again. Issue 19: a debit takes at
/// most the member's credit, so honest input never reverts; the rest is an on-chain receivable
/// (NettingLedger, a linked library that keeps FlexMarket under EIP-170).
abstract contract FlexMarketNetting is FlexMarketSessions, FlexMarketLedger {
    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_NETTING_MEMBERS = 256;
    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_NETTING_FEE_PPM = 100_000;
    uint256 private constant PPM = 1_000_000;

    /// @inheritdoc IFlexMarket
    function settleNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external onlyRole(CLEARING_HOUSE_ROLE) {
        if (_nettingSettled[PeriodId.wrap(periodId)]) revert FlexMarketNettingAlreadySettled(periodId);
        NettingLedger.check(periodId, members, netAmounts, fee, feeRecipient);
        _checkBounds(periodId, members, netAmounts, fee, feeRecipient);
        _nettingSettled[PeriodId.wrap(periodId)] = true;
        // debits first (at most each member's credit), then credits; what the debits lack is
        // owed on-chain as receivables and repaid from the debtors' next credit
        NettingLedger.settle(_participants, _receivables, periodId, members, netAmounts, fee, feeRecipient);
        // totalCredited is unchanged: what was debited is what was credited
        emit NettingSettled(periodId, members.length, fee, feeRecipient);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Open to any account: a naming only counts for an FSP that committed offers to the
    /// netted session and that the netting debits.
    function nameNettingPayees(address[] calldata payees, bool named) external {
        uint256 n = payees.length;
        if (n > MAX_NETTING_MEMBERS) revert FlexMarketTooManyMembers(n, MAX_NETTING_MEMBERS);
        mapping(address => bool) storage mine = _nettingPayees[msg.sender];
        for (uint256 i = 0; i < n; ++i) {
            if (payees[i] == address(0)) revert FlexMarketZeroAddress();
            mine[payees[i]] = named;
        }
        emit NettingPayeesNamed(msg.sender, payees, named);
    }

    /// @inheritdoc IFlexMarket
    function nettingSettled(bytes32 periodId) external view returns (bool) {
        return _nettingSettled[PeriodId.wrap(periodId)];
    }

    /// @inheritdoc IFlexMarket
    function isNettingPayee(address fsp, address payee) external view returns (bool) {
        return _nettingPayees[fsp][payee];
    }

    /// @inheritdoc IFlexMarket
    function nettingFeeCapPpm() external view returns (uint256) {
        return _nettingFeeCapPpm();
    }

    /// @dev Who and how much (issue 16): a Final session, ascending members, debits only from the
    /// session's FSPs, every other member (and the fee recipient) named by one of the FSPs this
    /// netting debits, the fee within the cap.
    function _checkBounds(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) private view {
        SessionId sessionId = SessionId.wrap(periodId);
        Session storage s = _requireState(sessionId, State.Final);
        uint256 n = members.length;
        // the session's FSPs that this netting debits: the only accounts whose naming counts
        address[] memory payers = new address[](n);
        uint256 nPayers = 0;
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address member = members[i];
            if (member <= previous) revert FlexMarketNettingMembersNotSorted(i, member);
            previous = member;
            if (netAmounts[i] < 0 && _hasCommitted(sessionId, member)) payers[nPayers++] = member;
        }
        for (uint256 i = 0; i < n; ++i) {
            address member = members[i];
            if (_hasCommitted(sessionId, member)) continue;
            // a named payee is only ever paid: its credit is not the naming FSP's to give
            if (netAmounts[i] < 0) revert FlexMarketNettingDebitNotFsp(periodId, member);
            if (!_namedByOneOf(payers, nPayers, member)) revert FlexMarketNotNettingParty(periodId, member);
        }
        if (fee != 0) {
            uint256 cap = uint256(s.paid) * _nettingFeeCapPpm() / PPM;
            if (fee > cap) revert FlexMarketFeeAboveCap(periodId, fee, cap);
            if (!_hasCommitted(sessionId, feeRecipient) && !_namedByOneOf(payers, nPayers, feeRecipient)) {
                revert FlexMarketNotNettingParty(periodId, feeRecipient);
            }
        }
    }

    /// @dev Whether one of the first `count` payers named `account` (count <= 256 members).
    function _namedByOneOf(address[] memory payers, uint256 count, address account) private view returns (bool) {
        for (uint256 j = 0; j < count; ++j) {
            if (_nettingPayees[payers[j]][account]) return true;
        }
        return false;
    }
}
