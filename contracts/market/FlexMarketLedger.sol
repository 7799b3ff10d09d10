// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {NettingLedger} from "../libraries/NettingLedger.sol";
import {SignedWithdrawals} from "../libraries/SignedWithdrawals.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";

/// @title FlexMarketLedger
/// @notice The internal credit ledger and its pull payments: every payment out of the market is
/// a credit here, and each payee withdraws its whole credit itself.
/// @dev Money invariant: token.balanceOf(this) == totalEscrowed + totalCredited (fee-on-transfer
/// and rebasing tokens are not supported). _credit (and NettingLedger's debits, credits and
/// repayments) write ledger entries only; callers move the stored totals once per transaction.
abstract contract FlexMarketLedger is FlexMarketStorage, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc IFlexMarket
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _withdraw(msg.sender, msg.sender);
    }

    /// @inheritdoc IFlexMarket
    function withdrawTo(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert FlexMarketZeroAddress();
        amount = _withdraw(msg.sender, to);
    }

    /// @inheritdoc IFlexMarket
    /// @dev The checks (zero `to`, deadline, signature) and the nonce live in SignedWithdrawals
    /// (a linked library): FlexMarket is close to EIP-170's limit and only dispatches. The
    /// nonce is spent before any transfer; the whole call reverts (nonce kept) when there is
    /// nothing to pay.
    function withdrawBySignature(address account, address to, uint256 deadline, bytes32 r, bytes32 vs)
        external
        nonReentrant
    {
        SignedWithdrawals.use(_withdrawalNonces, account, to, deadline, r, vs);
        _withdraw(account, to);
    }

    /// @inheritdoc IFlexMarket
    function withdrawalNonce(address account) external view returns (uint256) {
        return _withdrawalNonces[account];
    }

    /// @inheritdoc IFlexMarket
    function credits(address account) external view returns (uint256) {
        return _participants[account].credit;
    }

    /// @inheritdoc IFlexMarket
    function totalEscrowed() external view returns (uint256) {
        return _totalDeposited - _totalCredited - _totalWithdrawn;
    }

    /// @inheritdoc IFlexMarket
    function totalCredited() external view returns (uint256) {
        return _totalCredited;
    }

    /// @inheritdoc IFlexMarket
    function totalDeposited() external view returns (uint256) {
        return _totalDeposited;
    }

    /// @inheritdoc IFlexMarket
    function totalWithdrawn() external view returns (uint256) {
        return _totalWithdrawn;
    }

    /// @inheritdoc IFlexMarket
    function repayReceivables(address debtor) external returns (uint256 repaid) {
        repaid = _repay(debtor);
    }

    /// @inheritdoc IFlexMarket
    function receivable(address debtor, address creditor) external view returns (uint256) {
        return _receivables.owed[debtor][creditor];
    }

    /// @inheritdoc IFlexMarket
    function receivableCreditors(address debtor) external view returns (address[] memory) {
        return _receivables.creditors[debtor];
    }

    /// @dev Effects before the transfer; the caller holds the reentrancy lock. What the caller
    /// owes is repaid first, so a debtor never withdraws its creditors' money.
    function _withdraw(address account, address to) private returns (uint256 amount) {
        _repay(account);
        Participant storage p = _participants[account];
        amount = p.credit;
        if (amount == 0) revert FlexMarketNothingToWithdraw(account);
        p.credit = 0;
        _totalCredited -= uint128(amount);
        _totalWithdrawn += uint128(amount);
        emit Withdrawn(account, to, amount);
        _token().safeTransfer(to, amount);
    }

    /// @dev Ledger entry only; callers move the totals once per transaction. `ref` is the
    /// session id, the request id (cancel) or the netting period id, as in the Credited event.
    function _credit(address account, bytes32 ref, uint256 amount) internal {
        _participants[account].credit += uint96(amount);
        emit Credited(account, ref, amount);
    }

    /// @dev What `debtor` owes is repaid from its credit first (NettingLedger.repay).
    function _repay(address debtor) internal returns (uint256) {
        return NettingLedger.repay(_participants, _receivables, debtor);
    }
}
