// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev What nettings could not debit (issue 19): owed[debtor][creditor], and each debtor's
/// creditors with a non-zero receivable (at most 256, so repaying is a bounded loop). Two
/// mappings in a struct occupy the same two slots as two consecutive mappings.
struct Receivables {
    mapping(address debtor => mapping(address creditor => uint256 amount)) owed;
    mapping(address debtor => address[] creditors) creditors;
}
