// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {RequestId, SessionId} from "../types/Ids.sol";
import {FlexMarketLedger} from "./FlexMarketLedger.sol";
import {FlexMarketPositions} from "./FlexMarketPositions.sol";
import {FlexMarketSessions} from "./FlexMarketSessions.sol";

/// @title FlexMarketEscrow
/// @notice DSO flexibility requests and their escrowed budgets: posting pulls the budget into
/// the market, cancelling before gate closure credits it back.
/// @dev A budget leaves escrow only by a credit (cancel here, finalize in settlement), so every
/// payment out of the market is a pull. postRequestWithPermit is in FlexMarket next to the token
/// immutable and calls _postRequest.
abstract contract FlexMarketEscrow is FlexMarketSessions, FlexMarketLedger, FlexMarketPositions {
    using SafeERC20 for IERC20;

    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_REQUESTS_PER_SESSION = 64;
    /// @dev Budgets and reservations: one request's budget is a uint64 in its packed slot
    /// (1.8e19 minor units = 1.8e13 tokens at 6 decimals).
    uint256 internal constant MAX_AMOUNT = type(uint64).max;

    /// @inheritdoc IFlexMarket
    function postRequest(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) external nonReentrant onlyRole(DSO_ROLE) {
        _postRequest(SessionId.wrap(sessionId), RequestId.wrap(requestId), congestionPoint, requestHash, budget);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Allowed for a DSO whose role was revoked: withdrawing one's own escrow is not a new
    /// market action. The refund is credited (pull payment) like every other payment.
    function cancelRequest(bytes32 sessionId, bytes32 requestId) external {
        Request storage r = _requests[RequestId.wrap(requestId)];
        if (r.dso == address(0)) revert FlexMarketUnknownRequest(requestId);
        if (r.dso != msg.sender) revert FlexMarketNotRequestOwner(requestId, msg.sender);
        uint8 packed = r.indexAndCancelled;
        if (packed & CANCELLED != 0) revert FlexMarketRequestAlreadyCancelled(requestId);
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Open);
        if (s.index != r.sessionIndex) revert FlexMarketRequestNotInSession(sessionId, requestId);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        uint64 budget = r.budget;
        r.indexAndCancelled = packed | CANCELLED;
        s.budget -= budget;
        _participants[msg.sender].requested -= budget;
        _totalCredited += budget;
        _credit(msg.sender, requestId, budget);
        emit RequestCancelled(sessionId, requestId, msg.sender, budget);

        _publishOne(false, msg.sender, KIND_REQUEST, budget);
    }

    /// @inheritdoc IFlexMarket
    function request(bytes32 requestId) external view returns (RequestInfo memory info) {
        Request storage r = _requests[RequestId.wrap(requestId)];
        if (r.dso == address(0)) return info;
        uint8 packed = r.indexAndCancelled;
        info.sessionIndex = r.sessionIndex;
        info.dso = r.dso;
        info.requestHash = r.requestHash;
        info.budget = r.budget;
        info.cancelled = packed & CANCELLED != 0;
        info.indexInSession = packed & ~CANCELLED;
    }

    /// @dev Effects, then the token pull, then the REQUEST position (the caller holds the lock).
    function _postRequest(
        SessionId sessionId,
        RequestId requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) internal {
        Session storage s = _requireState(sessionId, State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(SessionId.unwrap(sessionId), s.gateClosure, uint64(block.timestamp));
        }
        Request storage r = _requests[requestId];
        if (r.dso != address(0)) revert FlexMarketRequestExists(RequestId.unwrap(requestId));
        if (budget == 0) revert FlexMarketZeroBudget(RequestId.unwrap(requestId));
        if (budget > MAX_AMOUNT) revert FlexMarketAmountTooLarge(budget, MAX_AMOUNT);
        uint256 indexInSession = s.requestCount;
        if (indexInSession >= MAX_REQUESTS_PER_SESSION) {
            revert FlexMarketTooManyRequests(SessionId.unwrap(sessionId), MAX_REQUESTS_PER_SESSION);
        }
        r.dso = msg.sender;
        r.sessionIndex = s.index;
        r.indexAndCancelled = uint8(indexInSession);
        r.budget = uint64(budget);
        r.requestHash = requestHash;
        s.requestCount = uint8(indexInSession + 1);
        s.budget += uint72(budget);
        _participants[msg.sender].requested += uint128(budget);
        _totalDeposited += budget;
        emit RequestPosted(
            SessionId.unwrap(sessionId), RequestId.unwrap(requestId), msg.sender, congestionPoint, requestHash, budget
        );

        _token().safeTransferFrom(msg.sender, address(this), budget);
        _publishOne(true, msg.sender, KIND_REQUEST, budget);
    }
}
