// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {FlexMarketStorage} from "../market/FlexMarketStorage.sol";
import {Receivables} from "../types/Receivables.sol";

/// @title NettingLedger
/// @notice The ledger moves of settleNetting and the repayment of receivables (issue 19).
/// @dev An external library (linked, called by DELEGATECALL) because FlexMarket's runtime
/// code has to stay under EIP-170's 24 576 bytes; it runs on FlexMarket's storage and emits
/// FlexMarket's events. Callers have checked the netting (roles, bounds, zero sum): this code
/// only moves credit, never creates or destroys it.
library NettingLedger {
    /// @dev Max members of a netting and distinct creditors of a debtor (= FlexMarket's
    /// MAX_NETTING_MEMBERS).
    uint256 internal constant MAX_CREDITORS = 256;
    /// @dev Netting amounts keep their earlier bound.
    uint256 private constant MAX_NET_AMOUNT = type(uint96).max;

    /// @dev One netting in progress: its period, its members, what the debits collected and
    /// not paid out yet (pool), each member's uncovered debit and the next member that may owe.
    struct Netting {
        bytes32 periodId;
        address[] members;
        uint256[] unpaid;
        uint256 pool;
        uint256 next;
    }

    /// @notice Shape, range and the zero-sum rule of a netting: sum(netAmounts) + fee == 0.
    function check(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external pure {
        uint256 n = members.length;
        if (n != netAmounts.length) revert IFlexMarket.FlexMarketNettingLengthMismatch(n, netAmounts.length);
        if (n > MAX_CREDITORS) revert IFlexMarket.FlexMarketTooManyMembers(n, MAX_CREDITORS);
        if (fee != 0 && feeRecipient == address(0)) revert IFlexMarket.FlexMarketZeroAddress();
        if (fee > MAX_NET_AMOUNT) revert IFlexMarket.FlexMarketAmountTooLarge(fee, MAX_NET_AMOUNT);
        int256 sum;
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > int256(MAX_NET_AMOUNT) || amount < -int256(MAX_NET_AMOUNT)) {
                revert IFlexMarket.FlexMarketAmountTooLarge(
                    amount < 0 ? uint256(-(amount + 1)) + 1 : uint256(amount), MAX_NET_AMOUNT
                );
            }
            if (members[i] == address(0)) revert IFlexMarket.FlexMarketZeroAddress();
            sum += amount;
        }
        if (sum + int256(fee) != 0) revert IFlexMarket.FlexMarketNettingNotBalanced(periodId, sum, fee);
    }

    /// @notice Debits (at most each member's credit), then credits members and the fee from
    /// what the debits collected; what they lack becomes receivables of the members whose
    /// credit fell short, in member order. Then each member repays what it owed before.
    function settle(
        mapping(address => FlexMarketStorage.Participant) storage participants,
        Receivables storage r,
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external {
        Netting memory n = _debitAll(participants, periodId, members, netAmounts);
        _creditMembers(participants, r, n, netAmounts);
        if (fee != 0) _pay(participants, r, n, feeRecipient, fee);
        for (uint256 i = 0; i < n.members.length; ++i) {
            repay(participants, r, n.members[i]);
        }
    }

    /// @notice Moves the debtor's credit to its creditors until its receivables or its credit
    /// run out; a repaid creditor is dropped (swap and pop). Ledger entries only.
    function repay(
        mapping(address => FlexMarketStorage.Participant) storage participants,
        Receivables storage r,
        address debtor
    ) public returns (uint256 repaid) {
        address[] storage list = r.creditors[debtor];
        uint256 count = list.length;
        if (count == 0) return 0;
        FlexMarketStorage.Participant storage p = participants[debtor];
        uint256 credit = p.credit;
        mapping(address => uint256) storage owed = r.owed[debtor];
        uint256 i = 0;
        while (i < count && credit != 0) {
            address creditor = list[i];
            uint256 due = owed[creditor];
            uint256 x = due < credit ? due : credit;
            credit -= x;
            repaid += x;
            owed[creditor] = due - x;
            participants[creditor].credit += uint96(x);
            emit IFlexMarket.ReceivableRepaid(debtor, creditor, x);
            if (due == x) {
                list[i] = list[--count];
                list.pop();
            } else {
                ++i;
            }
        }
        p.credit = uint96(credit);
    }

    function _debitAll(
        mapping(address => FlexMarketStorage.Participant) storage participants,
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts
    ) private returns (Netting memory n) {
        uint256 count = members.length;
        n.periodId = periodId;
        n.members = members;
        n.unpaid = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            int256 amount = netAmounts[i];
            if (amount >= 0) continue;
            uint256 want = uint256(-amount);
            FlexMarketStorage.Participant storage p = participants[members[i]];
            uint256 credit = p.credit;
            uint256 take = want < credit ? want : credit;
            if (take != 0) {
                p.credit = uint96(credit - take);
                emit IFlexMarket.Debited(members[i], periodId, take);
            }
            n.unpaid[i] = want - take;
            n.pool += take;
        }
    }

    function _creditMembers(
        mapping(address => FlexMarketStorage.Participant) storage participants,
        Receivables storage r,
        Netting memory n,
        int256[] calldata netAmounts
    ) private {
        for (uint256 i = 0; i < n.members.length; ++i) {
            int256 amount = netAmounts[i];
            if (amount > 0) _pay(participants, r, n, n.members[i], uint256(amount));
        }
    }

    /// @dev Credits `want` from the pool; what the pool lacks is owed by the unpaid debtors in
    /// member order. sum(unpaid) == what is left to pay (zero sum), so `next` stays in range.
    function _pay(
        mapping(address => FlexMarketStorage.Participant) storage participants,
        Receivables storage r,
        Netting memory n,
        address creditor,
        uint256 want
    ) private {
        uint256 paid = want < n.pool ? want : n.pool;
        n.pool -= paid;
        if (paid != 0) {
            participants[creditor].credit += uint96(paid);
            emit IFlexMarket.Credited(creditor, n.periodId, paid);
        }
        uint256 rest = want - paid;
        while (rest != 0) {
            uint256 j = n.next;
            uint256 left = n.unpaid[j];
            if (left == 0) {
                n.next = j + 1;
                continue;
            }
            uint256 x = rest < left ? rest : left;
            n.unpaid[j] = left - x;
            rest -= x;
            // a fee recipient that is itself short owes the fee to nobody
            if (n.members[j] != creditor) _record(r, n.members[j], creditor, n.periodId, x);
        }
    }

    function _record(Receivables storage r, address debtor, address creditor, bytes32 periodId, uint256 amount)
        private
    {
        mapping(address => uint256) storage owed = r.owed[debtor];
        uint256 due = owed[creditor];
        if (due == 0) {
            address[] storage list = r.creditors[debtor];
            uint256 count = list.length;
            if (count == MAX_CREDITORS) revert IFlexMarket.FlexMarketTooManyMembers(count + 1, MAX_CREDITORS);
            list.push(creditor);
        }
        owed[creditor] = due + amount;
        emit IFlexMarket.ReceivableRecorded(debtor, creditor, periodId, amount);
    }
}
