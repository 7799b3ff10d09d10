// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {SessionId} from "../types/Ids.sol";
import {FlexMarketSettlement} from "./FlexMarketSettlement.sol";

/// @title FlexMarketLiveness
/// @notice Escrow cannot be locked forever (issue 16): when the operator does not clear, the
/// meter oracle does not attest or the arbiter does not resolve by the step's deadline plus a
/// fixed grace, anyone releases the session's escrow with refundStuck.
/// @dev Deadlines derive from the times stored at creation and attestation, and the grace is a
/// constant, so no role can move them. Pull payments only (credits), effects before the
/// position events, loops bounded by MAX_REQUESTS_PER_SESSION and MAX_RESERVATIONS_PER_SESSION.
/// A stuck dispute keeps the attested payouts (as finalize would): refunding everything would
/// let a DSO and a silent arbiter undo a delivery, and paying nothing more keeps a dispute
/// worthless to whoever raised it.
abstract contract FlexMarketLiveness is FlexMarketSettlement {
    /// @inheritdoc IFlexMarket
    uint64 public constant LIVENESS_GRACE = 7 days;

    /// @inheritdoc IFlexMarket
    function refundStuck(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external {
        Session storage s = _sessions[SessionId.wrap(sessionId)];
        State state = s.state;
        if (state == State.Final) revert FlexMarketAlreadyFinalized(sessionId);
        uint64 deadline = _stuckDeadline(s);
        if (deadline == 0) revert FlexMarketNotStuck(sessionId, state);
        if (block.timestamp < deadline) revert FlexMarketTooEarly(sessionId, deadline, uint64(block.timestamp));
        if (state == State.Cleared || state == State.Disputed) {
            _checkReservations(SessionId.wrap(sessionId), s, reservationList);
        } else if (reservationList.length != 0) {
            revert FlexMarketReservationsMismatch(sessionId, bytes32(0), keccak256(abi.encode(reservationList)));
        }
        emit SessionRefundedStuck(sessionId, state, deadline, msg.sender);
        if (state == State.Disputed) {
            bytes32 payoutsHash = keccak256(abi.encode(payouts));
            if (payoutsHash != s.payoutsHash) revert FlexMarketPayoutsMismatch(sessionId, s.payoutsHash, payoutsHash);
            _finalize(SessionId.wrap(sessionId), s, requestIds, reservationList, payouts);
            return;
        }
        if (payouts.length != 0) revert FlexMarketPayoutCountMismatch(sessionId, 0, payouts.length);
        _finalize(SessionId.wrap(sessionId), s, requestIds, reservationList, payouts); // empty: refund all
    }

    /// @inheritdoc IFlexMarket
    function stuckDeadline(bytes32 sessionId) external view returns (uint64) {
        return _stuckDeadline(_sessions[SessionId.wrap(sessionId)]);
    }

    /// @dev The pending step's deadline plus the grace; 0 when no step is pending (None, or
    /// Verified, which anyone can finalize, or Final).
    function _stuckDeadline(Session storage s) private view returns (uint64) {
        State state = s.state;
        if (state == State.Open || state == State.Closed) return uint64(s.deliveryStart) + LIVENESS_GRACE;
        if (state == State.Cleared) return uint64(s.deliveryEnd) + LIVENESS_GRACE;
        if (state == State.Disputed) return uint64(s.verifiedAt) + s.challengeWindow + LIVENESS_GRACE;
        return 0;
    }
}
