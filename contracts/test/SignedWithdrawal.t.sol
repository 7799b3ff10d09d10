// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FlexMarket} from "../FlexMarket.sol";
import {SettlementToken} from "../SettlementToken.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice withdrawBySignature (issue 19): a wallet-less EV user's claim address is credited by
/// netting and redeemed by a relayed EIP-712 Withdrawal signature.
contract SignedWithdrawalTest is MarketTestBase {
    uint256 internal constant CLAIM_KEY = 0xC1A1;
    uint256 internal constant SHARE = 40e6;
    bytes32 internal constant WITHDRAWAL_TYPEHASH =
        keccak256("Withdrawal(address account,address to,uint256 nonce,uint256 deadline)");
    address internal wallet = address(0x3A11E7);
    address internal relayer = address(0x4E1A7);

    function _claim() internal view returns (address) {
        return vm.addr(CLAIM_KEY);
    }

    /// @dev Session SID final; fsp1 named the claim address and the netting moved SHARE of
    /// fsp1's payout to it.
    function _claimCredited() internal {
        _verified();
        _afterWindow();
        _finalize(SID);
        address claim = _claim();
        address[] memory payees = new address[](1);
        payees[0] = claim;
        vm.prank(fsp1);
        market.nameNettingPayees(payees, true);
        address[] memory members = new address[](2);
        int256[] memory amounts = new int256[](2);
        (members[0], members[1]) = claim < fsp1 ? (claim, fsp1) : (fsp1, claim);
        (amounts[0], amounts[1]) = claim < fsp1 ? (int256(SHARE), -int256(SHARE)) : (-int256(SHARE), int256(SHARE));
        vm.prank(clearingHouse);
        market.settleNetting(SID, members, amounts, 0, address(0));
    }

    function _digest(address account, address to, uint256 nonce, uint256 deadline) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("FlexMarket"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        bytes32 structHash = keccak256(abi.encode(WITHDRAWAL_TYPEHASH, account, to, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _sign(uint256 key, address account, address to, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32 r, bytes32 vs)
    {
        (uint8 v, bytes32 r_, bytes32 s) = vm.sign(key, _digest(account, to, nonce, deadline));
        r = r_;
        vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
    }

    function test_withdrawBySignature_paysTheClaimToAFreshWallet() public {
        _claimCredited();
        address claim = _claim();
        assertEq(market.credits(claim), SHARE, "netted to the claim address");
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        uint256 before = market.totalCredited();
        vm.expectEmit(address(market));
        emit IFlexMarket.Withdrawn(claim, wallet, SHARE);
        vm.prank(relayer);
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(token.balanceOf(wallet), SHARE, "paid to the wallet");
        assertEq(token.balanceOf(relayer), 0, "not to the relayer");
        assertEq(market.credits(claim), 0, "claim emptied");
        assertEq(market.withdrawalNonce(claim), 1, "nonce spent");
        bytes32 slot = keccak256(abi.encode(claim, uint256(14)));
        assertEq(uint256(vm.load(address(market), slot)), 1, "slot 14: _withdrawalNonces (contracts/README.md)");
        assertEq(market.totalCredited(), before - SHARE, "total credited");
        assertEq(market.totalWithdrawn(), SHARE, "total withdrawn");
    }

    function test_withdrawBySignature_refusesAnotherSigner() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(0xBEEF, claim, wallet, 0, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketBadWithdrawalSignature.selector, claim, vm.addr(0xBEEF))
        );
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(market.credits(claim), SHARE, "credit kept");
    }

    function test_withdrawBySignature_refusesAnotherRecipientThanSigned() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        // recovers to some other address: the one the edited message names
        address other = ECDSA.recover(_digest(claim, relayer, 0, deadline), r, vs);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketBadWithdrawalSignature.selector, claim, other));
        vm.prank(relayer);
        market.withdrawBySignature(claim, relayer, deadline, r, vs);
        assertEq(market.credits(claim), SHARE, "credit kept");
    }

    function test_withdrawBySignature_refusesAnExpiredSignature() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketSignatureExpired.selector, deadline, deadline + 1));
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(market.withdrawalNonce(claim), 0, "nonce kept");
    }

    function test_withdrawBySignature_refusesAReplayedSignature() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 1 days; // outlives the second session
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        // credit again, then replay the spent signature within its deadline
        _creditAgain(claim);
        // nonce 1 now: the old signature recovers to another address
        address replayed = ECDSA.recover(_digest(claim, wallet, 1, deadline), r, vs);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketBadWithdrawalSignature.selector, claim, replayed));
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(market.credits(claim), SHARE, "second credit kept");
        (r, vs) = _sign(CLAIM_KEY, claim, wallet, 1, deadline);
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(token.balanceOf(wallet), 2 * SHARE, "a fresh signature pays");
    }

    function test_withdrawBySignature_refusesTheZeroRecipient() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, address(0), 0, deadline);
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        market.withdrawBySignature(claim, address(0), deadline, r, vs);
    }

    function test_withdrawBySignature_refusesWhenNothingToWithdraw() public {
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNothingToWithdraw.selector, claim));
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(market.withdrawalNonce(claim), 0, "nonce kept: the call reverted");
    }

    /// @dev A second Final session whose netting moves SHARE of fsp1's payout to `claim` again.
    function _creditAgain(address claim) internal {
        bytes32 sid2 = keccak256("session-2");
        bytes32 rid3 = keccak256("request-3");
        vm.prank(operator);
        market.createSession(
            sid2,
            uint64(block.timestamp) + 3600,
            uint64(block.timestamp) + 3600,
            uint64(block.timestamp) + 3600 + 4 * ISP,
            ISP,
            WINDOW,
            TERMS
        );
        _post(dso, sid2, rid3, BUDGET);
        _commit(fsp1, sid2);
        vm.warp(block.timestamp + 3600);
        vm.prank(operator);
        market.closeSession(sid2);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(rid3, fsp1, 100e6);
        _clear(sid2, list);
        uint128[] memory payouts = new uint128[](1);
        payouts[0] = 100e6;
        vm.warp(block.timestamp + 4 * ISP);
        vm.prank(oracle);
        market.attestDelivery(sid2, keccak256("delivery"), _resv(sid2), payouts);
        _recordPayouts(sid2, payouts);
        vm.warp(block.timestamp + WINDOW);
        _finalize(sid2);
        address[] memory members = new address[](2);
        int256[] memory amounts = new int256[](2);
        (members[0], members[1]) = claim < fsp1 ? (claim, fsp1) : (fsp1, claim);
        (amounts[0], amounts[1]) = claim < fsp1 ? (int256(SHARE), -int256(SHARE)) : (-int256(SHARE), int256(SHARE));
        vm.prank(clearingHouse);
        market.settleNetting(sid2, members, amounts, 0, address(0));
    }
}

/// @dev A settlement token that calls back into the market while it transfers (armed once).
contract ReentrantToken is SettlementToken {
    FlexMarket internal target;
    bytes internal call;
    bytes public reentryError;

    constructor(address admin) SettlementToken(admin) {}

    function arm(FlexMarket market_, bytes calldata data) external {
        target = market_;
        call = data;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (call.length == 0 || from != address(target)) return;
        bytes memory data = call;
        delete call;
        (bool ok, bytes memory err) = address(target).call(data);
        if (!ok) reentryError = err;
    }
}

/// @notice withdrawBySignature holds the reentrancy lock and pays after every effect: a token
/// that re-enters during the transfer is refused, and the claim is paid once.
contract SignedWithdrawalReentrancyTest is SignedWithdrawalTest {
    function _newToken() internal override returns (SettlementToken) {
        return new ReentrantToken(admin);
    }

    function test_withdrawBySignature_refusesReentry() public {
        _claimCredited();
        address claim = _claim();
        uint256 deadline = block.timestamp + 600;
        (bytes32 r, bytes32 vs) = _sign(CLAIM_KEY, claim, wallet, 0, deadline);
        (bytes32 r1, bytes32 vs1) = _sign(CLAIM_KEY, claim, wallet, 1, deadline);
        ReentrantToken(address(token))
            .arm(market, abi.encodeCall(IFlexMarket.withdrawBySignature, (claim, wallet, deadline, r1, vs1)));
        market.withdrawBySignature(claim, wallet, deadline, r, vs);
        assertEq(
            keccak256(ReentrantToken(address(token)).reentryError()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "re-entry refused by the lock"
        );
        assertEq(token.balanceOf(wallet), SHARE, "paid once");
        assertEq(market.credits(claim), 0, "credit zeroed before the transfer");
        assertEq(market.withdrawalNonce(claim), 1, "one nonce spent");
    }
}
