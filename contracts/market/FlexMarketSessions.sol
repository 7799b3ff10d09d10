// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {SessionId} from "../types/Ids.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";

/// @title FlexMarketSessions
/// @notice Session schedule and state machine: create, close at gate closure, read.
/// @dev None -> Open -> Closed -> Cleared -> Verified -> (Disputed ->) Final; the other units
/// move the later states and guard each step with _requireState.
abstract contract FlexMarketSessions is FlexMarketStorage {
    /// @inheritdoc IFlexMarket
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;

    /// @inheritdoc IFlexMarket
    function createSession(
        bytes32 sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint32 ispSeconds,
        uint32 challengeWindow,
        bytes32 termsHash
    ) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _sessions[SessionId.wrap(sessionId)];
        if (s.state != State.None) revert FlexMarketSessionExists(sessionId);
        if (gateClosure <= block.timestamp) {
            revert FlexMarketGateClosureNotInFuture(gateClosure, uint64(block.timestamp));
        }
        if (deliveryStart < gateClosure || deliveryEnd <= deliveryStart) {
            revert FlexMarketInvalidDeliveryWindow(gateClosure, deliveryStart, deliveryEnd);
        }
        if (deliveryEnd > type(uint40).max) {
            revert FlexMarketInvalidDeliveryWindow(gateClosure, deliveryStart, deliveryEnd);
        }
        uint64 windowSeconds = deliveryEnd - deliveryStart;
        if (ispSeconds == 0 || windowSeconds % ispSeconds != 0) revert FlexMarketInvalidIsp(ispSeconds, windowSeconds);
        if (challengeWindow == 0 || challengeWindow > MAX_CHALLENGE_WINDOW) {
            revert FlexMarketInvalidChallengeWindow(challengeWindow, MAX_CHALLENGE_WINDOW);
        }
        uint256 index = _sessionCount;
        if (index > type(uint24).max) revert FlexMarketTooManySessions(uint256(type(uint24).max) + 1);
        _sessionCount = index + 1;
        s.state = State.Open;
        s.gateClosure = uint40(gateClosure);
        s.deliveryStart = uint40(deliveryStart);
        s.deliveryEnd = uint40(deliveryEnd);
        s.challengeWindow = challengeWindow;
        s.ispSeconds = ispSeconds;
        s.index = uint24(index);
        s.termsHash = termsHash; // no setter: the terms are fixed before the first offer
        emit SessionCreated(sessionId, gateClosure, deliveryStart, deliveryEnd, ispSeconds, challengeWindow, termsHash);
    }

    /// @inheritdoc IFlexMarket
    function closeSession(bytes32 sessionId) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Open);
        if (block.timestamp < s.gateClosure) {
            revert FlexMarketTooEarly(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        s.state = State.Closed;
        emit SessionClosed(sessionId);
    }

    /// @inheritdoc IFlexMarket
    function session(bytes32 sessionId) external view returns (SessionInfo memory info) {
        Session storage s = _sessions[SessionId.wrap(sessionId)];
        info.state = s.state;
        info.gateClosure = s.gateClosure;
        info.deliveryStart = s.deliveryStart;
        info.deliveryEnd = s.deliveryEnd;
        info.ispSeconds = s.ispSeconds;
        info.challengeWindow = s.challengeWindow;
        info.verifiedAt = s.verifiedAt;
        info.index = s.index;
        info.requestCount = s.requestCount;
        info.reservationCount = s.reservationCount;
        info.budget = s.budget;
        info.reserved = s.reserved;
        info.paid = s.paid;
        info.reservationsHash = s.reservationsHash;
        info.payoutsHash = s.payoutsHash;
        info.disputedBy = s.disputedBy;
        info.disputeReasonHash = s.disputeReasonHash;
        info.termsHash = s.termsHash;
    }

    /// @inheritdoc IFlexMarket
    function sessionCount() external view returns (uint256) {
        return _sessionCount;
    }

    /// @dev The session, or a FlexMarketNotInState revert naming the state it is in.
    function _requireState(SessionId sessionId, State expected) internal view returns (Session storage s) {
        s = _sessions[sessionId];
        if (s.state != expected) revert FlexMarketNotInState(SessionId.unwrap(sessionId), expected, s.state);
    }
}
