// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm, Assertions} from "./Base.t.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FlexMarket} from "../FlexMarket.sol";
import {SettlementToken} from "../SettlementToken.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice Drives random market lifecycles (and netting) and keeps ghost books of every flow.
contract MarketHandler is Assertions {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant MAX_SESSIONS = 4;

    FlexMarket public immutable market;
    SettlementToken public immutable token;
    address public immutable admin;
    address public immutable operator;
    address public immutable oracle;
    address public immutable arbiter;
    address public immutable house;
    address[3] public dsos;
    address[4] public fsps;

    bytes32[] public sessionIds;
    mapping(bytes32 => bytes32[]) internal _requestsOf;
    /// @dev Mirrors of the lists the market keeps only as hashes (published in its events).
    mapping(bytes32 => IFlexMarket.Reservation[]) internal _reservationsOf;
    mapping(bytes32 => uint128[]) internal _payoutsOf;
    uint256 internal _nonce;

    // ghost books
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    mapping(address => uint256) public ghostCreditedTo; // every credit received (incl. netting)
    mapping(address => uint256) public ghostDebitedFrom; // netting debits
    mapping(address => uint256) public ghostWithdrawnBy;
    mapping(bytes32 => uint256) public ghostSessionBudget; // non-cancelled budgets at finalize
    mapping(bytes32 => uint256) public ghostSessionPayouts; // FSP credit deltas at finalize
    mapping(bytes32 => uint256) public ghostSessionRefunds; // DSO credit deltas at finalize
    bytes32[] public finalizedSessions;
    uint256 public ghostNettingFees;
    uint256 public nettingPeriods;
    uint256 public creditedBeforeNettingMismatch; // counts nettings that changed totalCredited

    constructor(FlexMarket market_, SettlementToken token_, address admin_) {
        market = market_;
        token = token_;
        admin = admin_;
        operator = address(0x1001);
        oracle = address(0x1002);
        arbiter = address(0x1003);
        house = address(0x1004);
        for (uint256 i = 0; i < 3; ++i) {
            dsos[i] = address(uint160(0x2000 + i));
        }
        for (uint256 i = 0; i < 4; ++i) {
            fsps[i] = address(uint160(0x3000 + i));
        }
    }

    function actors() public view returns (address[] memory list) {
        list = new address[](8);
        for (uint256 i = 0; i < 3; ++i) {
            list[i] = dsos[i];
        }
        for (uint256 i = 0; i < 4; ++i) {
            list[3 + i] = fsps[i];
        }
        list[7] = house;
    }

    function sessionCount() external view returns (uint256) {
        return sessionIds.length;
    }

    function finalizedCount() external view returns (uint256) {
        return finalizedSessions.length;
    }

    // ------------------------------------------------------------------ actions

    function createSession(uint32 lead, uint8 isps, uint32 window) external {
        if (sessionIds.length >= MAX_SESSIONS) return;
        uint64 gate = uint64(block.timestamp) + uint64(bound(lead, 1, 2 days));
        uint64 end = gate + 900 * uint64(bound(isps, 1, 8));
        bytes32 id = keccak256(abi.encode("session", sessionIds.length));
        vm.prank(operator);
        market.createSession(id, gate, gate, end, 900, uint32(bound(window, 1, 1 days)), keccak256(abi.encode(id)));
        sessionIds.push(id);
    }

    function postRequest(uint256 sessionSeed, uint256 dsoSeed, uint96 budgetSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Open || block.timestamp >= s.gateClosure) return;
        if (_requestsOf[id].length >= 6) return;
        address dso = dsos[dsoSeed % 3];
        uint256 budget = bound(budgetSeed, 1, 1e15);
        bytes32 requestId = keccak256(abi.encode("request", ++_nonce));
        vm.prank(admin);
        token.mint(dso, budget);
        vm.prank(dso);
        token.approve(address(market), budget);
        vm.prank(dso);
        market.postRequest(id, requestId, bytes32("cp"), bytes32("h"), budget);
        _requestsOf[id].push(requestId);
        ghostDeposited += budget;
    }

    function cancelRequest(uint256 sessionSeed, uint256 requestSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || _requestsOf[id].length == 0) return;
        if (s.state != IFlexMarket.State.Open || block.timestamp >= s.gateClosure) return;
        bytes32 requestId = _requestsOf[id][requestSeed % _requestsOf[id].length];
        IFlexMarket.RequestInfo memory r = market.request(requestId);
        if (r.cancelled) return;
        vm.prank(r.dso);
        market.cancelRequest(id, requestId);
        ghostCreditedTo[r.dso] += r.budget;
    }

    function commitOffers(uint256 sessionSeed, uint256 fspSeed, bytes32 root) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Open || block.timestamp >= s.gateClosure) return;
        address fsp = fsps[fspSeed % 4];
        if (market.hasCommitted(id, fsp)) return; // commit once
        vm.prank(fsp);
        market.commitOffers(
            id, root == bytes32(0) ? bytes32("root") : root, 7, keccak256(abi.encode(root)), keccak256(abi.encode(fsp))
        );
    }

    function closeSession(uint256 sessionSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Open) return;
        if (block.timestamp < s.gateClosure) vm.warp(s.gateClosure);
        vm.prank(operator);
        market.closeSession(id);
    }

    /// @dev Reserves random shares of each live request's budget for committed FSPs.
    function postClearing(uint256 sessionSeed, uint256 shareSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Closed) return;
        bytes32[] storage reqs = _requestsOf[id];
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](reqs.length * 4);
        uint256 n;
        for (uint256 j = 0; j < reqs.length; ++j) {
            IFlexMarket.RequestInfo memory r = market.request(reqs[j]);
            if (r.cancelled) continue;
            uint256 left = r.budget;
            for (uint256 f = 0; f < 4; ++f) {
                if (!market.hasCommitted(id, fsps[f]) || left == 0) continue;
                uint256 amount = bound(uint256(keccak256(abi.encode(shareSeed, j, f))), 0, left);
                if (amount == 0) continue;
                left -= amount;
                list[n++] = IFlexMarket.Reservation({requestId: reqs[j], fsp: fsps[f], amount: uint128(amount)});
            }
        }
        assembly ("memory-safe") {
            mstore(list, n)
        }
        vm.prank(operator);
        market.postClearing(id, bytes32("input"), bytes32("result"), list);
        for (uint256 i = 0; i < n; ++i) {
            _reservationsOf[id].push(list[i]);
        }
    }

    function attestDelivery(uint256 sessionSeed, uint256 payoutSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Cleared) return;
        if (block.timestamp < s.deliveryEnd) vm.warp(s.deliveryEnd);
        uint128[] memory payouts = _randomPayouts(id, payoutSeed); // before the prank: it makes a call
        vm.prank(oracle);
        market.attestDelivery(id, bytes32("delivery"), _reservationsOf[id], payouts);
        _payoutsOf[id] = payouts;
    }

    function dispute(uint256 sessionSeed, uint256 partySeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Verified) return;
        if (block.timestamp >= s.verifiedAt + s.challengeWindow) return;
        IFlexMarket.Reservation[] memory list = _reservationsOf[id];
        if (list.length == 0 || partySeed % 5 == 0) {
            // a DSO names its live request
            bytes32[] storage reqs = _requestsOf[id];
            if (reqs.length == 0) return;
            bytes32 requestId = reqs[partySeed % reqs.length];
            IFlexMarket.RequestInfo memory r = market.request(requestId);
            if (r.cancelled) return;
            vm.prank(r.dso);
            market.dispute(id, bytes32("reason"), requestId);
            return;
        }
        vm.prank(list[partySeed % list.length].fsp);
        market.dispute(id, bytes32("reason"), bytes32(0));
    }

    function resolve(uint256 sessionSeed, uint256 payoutSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Disputed) return;
        uint128[] memory payouts = _randomPayouts(id, payoutSeed);
        _recordFinalize(id, 1, payouts);
    }

    function finalize(uint256 sessionSeed) external {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok || s.state != IFlexMarket.State.Verified) return;
        uint64 deadline = s.verifiedAt + s.challengeWindow;
        if (block.timestamp < deadline) vm.warp(deadline);
        _recordFinalize(id, 0, new uint128[](0));
    }

    function withdraw(uint256 actorSeed) external {
        address who = actors()[actorSeed % 8];
        uint256 credit = market.credits(who);
        if (credit == 0) return;
        uint256 before = token.balanceOf(who);
        vm.prank(who);
        uint256 amount = market.withdraw();
        assertEq(token.balanceOf(who) - before, credit, "withdraw moves exactly the credit");
        assertEq(amount, credit, "returned amount");
        ghostWithdrawn += amount;
        ghostWithdrawnBy[who] += amount;
    }

    /// @dev Nets random transfers between members that have credit, for a finalized session not
    /// netted yet; a party of the session names the members first. The fee comes out of debits
    /// and stays within the deployment's cap.
    function settleNetting(uint256 seed, uint8 feeSeed) external {
        if (finalizedSessions.length == 0) return;
        bytes32 periodId = finalizedSessions[seed % finalizedSessions.length];
        if (market.nettingSettled(periodId)) return;
        address[] memory all = actors();
        address[] memory members = new address[](7); // dsos then fsps: ascending addresses
        int256[] memory amounts = new int256[](7);
        uint256 debits;
        for (uint256 i = 0; i < 7; ++i) {
            members[i] = all[i];
            // only the session's FSPs are debited; the others are only paid
            if (!market.hasCommitted(periodId, all[i])) continue;
            uint256 credit = market.credits(all[i]);
            uint256 debit = bound(uint256(keccak256(abi.encode(seed, i))), 0, credit);
            amounts[i] = -int256(debit);
            debits += debit;
        }
        if (debits == 0 || !_nameMembers(periodId, members)) return;
        uint256 cap = market.session(periodId).paid * market.nettingFeeCapPpm() / 1e6;
        uint256 fee = bound(feeSeed, 0, debits < cap ? debits : cap);
        // spread debits - fee as credits over members chosen by the seed
        uint256 remaining = debits - fee;
        for (uint256 i = 0; i < 7 && remaining != 0; ++i) {
            uint256 share = i == 6 ? remaining : bound(uint256(keccak256(abi.encode(seed, "c", i))), 0, remaining);
            amounts[i] += int256(share);
            remaining -= share;
        }
        uint256 creditedBefore = market.totalCredited();
        vm.prank(house);
        market.settleNetting(periodId, members, amounts, fee, house);
        ++nettingPeriods;
        if (market.totalCredited() != creditedBefore) ++creditedBeforeNettingMismatch;
        for (uint256 i = 0; i < 7; ++i) {
            if (amounts[i] < 0) ghostDebitedFrom[members[i]] += uint256(-amounts[i]);
            else ghostCreditedTo[members[i]] += uint256(amounts[i]);
        }
        ghostCreditedTo[house] += fee;
        ghostNettingFees += fee;
    }

    /// @dev Releases a stuck session's escrow once its deadline has passed (warps there).
    function refundStuck(uint256 sessionSeed) external {
        (bytes32 id,, bool ok) = _pick(sessionSeed);
        if (!ok) return;
        uint64 deadline = market.stuckDeadline(id);
        if (deadline == 0) return;
        if (block.timestamp < deadline) vm.warp(deadline);
        _recordFinalize(id, 2, new uint128[](0));
    }

    /// @dev Moves a random session one step along its lifecycle, so that the campaign reaches
    /// FINAL often instead of scattering calls over sessions in the wrong state.
    function step(uint256 sessionSeed, uint256 seed) public {
        (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) = _pick(sessionSeed);
        if (!ok) return this.createSession(uint32(seed), uint8(seed >> 32), uint32(seed >> 40));
        if (s.state == IFlexMarket.State.Open) {
            if (block.timestamp < s.gateClosure && _requestsOf[id].length < 2) {
                return this.postRequest(sessionSeed, seed, uint96(seed >> 8));
            }
            if (block.timestamp < s.gateClosure && seed % 3 != 0) {
                return this.commitOffers(sessionSeed, seed >> 16, keccak256(abi.encode(seed)));
            }
            return this.closeSession(sessionSeed);
        }
        if (s.state == IFlexMarket.State.Closed) return this.postClearing(sessionSeed, seed);
        if (s.state == IFlexMarket.State.Cleared) return this.attestDelivery(sessionSeed, seed);
        if (s.state == IFlexMarket.State.Verified) {
            if (seed % 4 == 0) return this.dispute(sessionSeed, seed >> 8);
            return this.finalize(sessionSeed);
        }
        if (s.state == IFlexMarket.State.Disputed) return this.resolve(sessionSeed, seed);
        return this.createSession(uint32(seed), uint8(seed >> 32), uint32(seed >> 40));
    }

    function stepAgain(uint256 sessionSeed, uint256 seed) external {
        step(sessionSeed, seed);
    }

    function warp(uint32 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 1 days));
    }

    // ------------------------------------------------------------------ internals

    function _pick(uint256 seed) internal view returns (bytes32 id, IFlexMarket.SessionInfo memory s, bool ok) {
        if (sessionIds.length == 0) return (id, s, false);
        id = sessionIds[seed % sessionIds.length];
        s = market.session(id);
        ok = true;
    }

    function _randomPayouts(bytes32 id, uint256 seed) internal view returns (uint128[] memory payouts) {
        IFlexMarket.Reservation[] memory list = _reservationsOf[id];
        payouts = new uint128[](list.length);
        for (uint256 i = 0; i < list.length; ++i) {
            payouts[i] = uint128(bound(uint256(keccak256(abi.encode(seed, i))), 0, list[i].amount));
        }
    }

    /// @dev Every FSP names the members and the house once (the naming is per FSP, not per
    /// session); false when no FSP of the session is among the members.
    function _nameMembers(bytes32 id, address[] memory members) internal returns (bool) {
        bool any;
        for (uint256 f = 0; f < 4; ++f) {
            if (market.hasCommitted(id, fsps[f])) any = true;
            if (market.isNettingPayee(fsps[f], house)) continue;
            vm.prank(fsps[f]);
            market.nameNettingPayees(members, true);
            address[] memory platform = new address[](1);
            platform[0] = house;
            vm.prank(fsps[f]);
            market.nameNettingPayees(platform, true);
        }
        return any;
    }

    /// @dev Finalizes (mode 0), resolves (1) or refunds a stuck session (2) and books each
    /// party's credit delta against the session.
    function _recordFinalize(bytes32 id, uint8 mode, uint128[] memory payouts) internal {
        address[] memory all = actors();
        uint256[] memory before = new uint256[](all.length);
        for (uint256 i = 0; i < all.length; ++i) {
            before[i] = market.credits(all[i]);
        }
        uint256 budget = market.session(id).budget;
        if (mode == 1) {
            vm.prank(arbiter);
            market.resolve(id, bytes32("corrected"), _requestsOf[id], _reservationsOf[id], payouts);
        } else if (mode == 2) {
            IFlexMarket.State state = market.session(id).state;
            bool cleared = state != IFlexMarket.State.Open && state != IFlexMarket.State.Closed;
            market.refundStuck(
                id,
                _requestsOf[id],
                cleared ? _reservationsOf[id] : new IFlexMarket.Reservation[](0),
                state == IFlexMarket.State.Disputed ? _payoutsOf[id] : new uint128[](0)
            );
        } else {
            market.finalize(id, _requestsOf[id], _reservationsOf[id], _payoutsOf[id]);
        }
        uint256 paid;
        uint256 refunded;
        for (uint256 i = 0; i < all.length; ++i) {
            uint256 delta = market.credits(all[i]) - before[i];
            ghostCreditedTo[all[i]] += delta;
            if (i < 3) refunded += delta;
            else paid += delta;
        }
        ghostSessionBudget[id] = budget;
        ghostSessionPayouts[id] = paid;
        ghostSessionRefunds[id] = refunded;
        finalizedSessions.push(id);
    }
}

/// @notice Invariants (a) money conservation, (b) budget = payouts + refund per session,
/// (c) nobody withdraws more than credited, plus netting conservation (issue 7).
contract FlexMarketInvariantTest is Assertions {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    FlexMarket internal market;
    SettlementToken internal token;
    MarketHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = address(0xA11CE);
        token = new SettlementToken(admin);
        market = new FlexMarket(IERC20(address(token)), admin, 20_000);
        handler = new MarketHandler(market, token, admin);
        vm.startPrank(admin);
        token.grantRole(token.MINTER_ROLE(), address(handler));
        vm.stopPrank();
        _register(admin, handler.operator(), market.MARKET_OPERATOR_ROLE());
        _register(admin, handler.oracle(), market.METER_ORACLE_ROLE());
        _register(admin, handler.arbiter(), market.ARBITER_ROLE());
        _register(admin, handler.house(), market.CLEARING_HOUSE_ROLE());
        for (uint256 i = 0; i < 3; ++i) {
            _register(admin, handler.dsos(i), market.DSO_ROLE());
        }
        for (uint256 i = 0; i < 4; ++i) {
            _register(admin, handler.fsps(i), market.FSP_ROLE());
        }
    }

    function _register(address admin, address who, bytes32 role) internal {
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = role;
        vm.prank(admin);
        market.registerParticipant(who, bytes32(0), roles);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](16);
        selectors[13] = MarketHandler.step.selector;
        selectors[14] = MarketHandler.stepAgain.selector;
        selectors[15] = MarketHandler.refundStuck.selector;
        selectors[0] = MarketHandler.createSession.selector;
        selectors[1] = MarketHandler.postRequest.selector;
        selectors[2] = MarketHandler.cancelRequest.selector;
        selectors[3] = MarketHandler.commitOffers.selector;
        selectors[4] = MarketHandler.closeSession.selector;
        selectors[5] = MarketHandler.postClearing.selector;
        selectors[6] = MarketHandler.attestDelivery.selector;
        selectors[7] = MarketHandler.dispute.selector;
        selectors[8] = MarketHandler.resolve.selector;
        selectors[9] = MarketHandler.finalize.selector;
        selectors[10] = MarketHandler.withdraw.selector;
        selectors[11] = MarketHandler.settleNetting.selector;
        selectors[12] = MarketHandler.warp.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector({addr: address(handler), selectors: selectors});
    }

    /// (a) the market holds exactly what is escrowed plus what is credited and not withdrawn.
    function invariant_tokenBalanceEqualsEscrowedPlusCredited() public view {
        uint256 balance = token.balanceOf(address(market));
        assertEq(balance, market.totalEscrowed() + market.totalCredited(), "balance == escrowed + credited");
        assertEq(balance, handler.ghostDeposited() - handler.ghostWithdrawn(), "balance == deposits - withdrawals");
        assertEq(market.totalDeposited(), handler.ghostDeposited(), "deposits counter");
        assertEq(market.totalWithdrawn(), handler.ghostWithdrawn(), "withdrawals counter");
        address[] memory all = handler.actors();
        uint256 sum;
        for (uint256 i = 0; i < all.length; ++i) {
            sum += market.credits(all[i]);
        }
        assertEq(sum, market.totalCredited(), "credits sum to the counter");
    }

    /// (b) per finalized session, the DSOs' budget is exactly FSP payouts plus DSO refunds.
    function invariant_sessionBudgetEqualsPayoutsPlusRefund() public view {
        uint256 n = handler.finalizedCount();
        for (uint256 k = 0; k < n; ++k) {
            bytes32 id = handler.finalizedSessions(k);
            assertEq(
                handler.ghostSessionBudget(id),
                handler.ghostSessionPayouts(id) + handler.ghostSessionRefunds(id),
                "budget == payouts + refund"
            );
            assertEq(handler.ghostSessionPayouts(id), market.session(id).paid, "payouts == attested");
        }
    }

    /// (c) nobody withdraws more than it was credited, and what is left is exactly its credit.
    function invariant_nobodyWithdrawsMoreThanCredited() public view {
        address[] memory all = handler.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            address who = all[i];
            uint256 inflow = handler.ghostCreditedTo(who);
            uint256 outflow = handler.ghostWithdrawnBy(who) + handler.ghostDebitedFrom(who);
            assertLe(outflow, inflow, "withdrawn + debited <= credited");
            assertEq(inflow - outflow, market.credits(who), "ledger matches ghost");
        }
    }

    /// Netting (issue 7) only moves credit between members: the total never changes.
    function invariant_nettingConservesCredit() public view {
        assertEq(handler.creditedBeforeNettingMismatch(), 0, "netting changed total credit");
    }
}
