// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @title SignedWithdrawals
/// @notice The check of withdrawBySignature (issue 19): an account that holds no gas, such as
/// an EV user's claim address, signs an EIP-712 Withdrawal(account, to, nonce, deadline) and
/// anyone relays it.
/// @dev An external library (linked, called by DELEGATECALL) so FlexMarket stays under
/// EIP-170; it runs on FlexMarket's storage, so address(this) in the domain is the market's.
/// Same domain as the sealed offers' commitments (name "FlexMarket", version "1").
library SignedWithdrawals {
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant WITHDRAWAL_TYPEHASH =
        keccak256("Withdrawal(address account,address to,uint256 nonce,uint256 deadline)");
    bytes32 private constant NAME_HASH = keccak256("FlexMarket");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @notice Consumes the account's nonce if `to` is not zero, `account` signed Withdrawal(account, to, its
    /// current nonce, deadline) and the deadline has not passed; reverts otherwise. The nonce
    /// makes each signature good for one withdrawal, even within its deadline.
    function use(
        mapping(address => uint256) storage nonces,
        address account,
        address to,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external {
        if (to == address(0)) revert IFlexMarket.FlexMarketZeroAddress();
        if (block.timestamp > deadline) revert IFlexMarket.FlexMarketSignatureExpired(deadline, block.timestamp);
        uint256 nonce = nonces[account];
        bytes32 domain = keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
        bytes32 structHash = keccak256(abi.encode(WITHDRAWAL_TYPEHASH, account, to, nonce, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        // the third value only details err, which is checked below
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, r, vs);
        if (err != ECDSA.RecoverError.NoError || signer != account) {
            revert IFlexMarket.FlexMarketBadWithdrawalSignature(account, signer);
        }
        nonces[account] = nonce + 1;
    }
}
