// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {RequestId, SessionId} from "../types/Ids.sol";
import {FlexMarketSettlement} from "./FlexMarketSettlement.sol";

/// @title FlexMarketDisputes
/// @notice Challenges inside the window after attestation: a party with money at stake disputes,
/// the arbiter posts corrected payouts and the session finalizes with them.
abstract contract FlexMarketDisputes is FlexMarketSettlement {
    /// @inheritdoc IFlexMarket
    /// @dev Open to a party whose role was revoked: it protects money already at stake. A DSO
    /// names one of its live requests in the session; an FSP must have committed offers to it.
    function dispute(bytes32 sessionId, bytes32 reasonHash, bytes32 requestId) external {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp >= deadline) revert FlexMarketTooLate(sessionId, deadline, uint64(block.timestamp));
        if (!_isParty(SessionId.wrap(sessionId), s.index, msg.sender, RequestId.wrap(requestId))) {
            revert FlexMarketNotParty(sessionId, msg.sender);
        }
        s.state = State.Disputed;
        s.disputedBy = msg.sender;
        s.disputeReasonHash = reasonHash;
        emit SessionDisputed(sessionId, msg.sender, reasonHash);
    }

    /// @inheritdoc IFlexMarket
    /// @dev No challenge window follows: the arbiter's correction is final.
    function resolve(
        bytes32 sessionId,
        bytes32 correctedRoot,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external onlyRole(ARBITER_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Disputed);
        uint256 total = _setPayouts(SessionId.wrap(sessionId), s, reservationList, payouts);
        emit DisputeResolved(sessionId, correctedRoot, total, payouts);
        _finalize(SessionId.wrap(sessionId), s, requestIds, reservationList, payouts);
    }

    /// @dev A party has money at stake: an FSP that committed offers, or the DSO of a live
    /// request of the session (named by the caller).
    function _isParty(SessionId sessionId, uint24 sessionIndex, address account, RequestId requestId)
        private
        view
        returns (bool)
    {
        if (_hasCommitted(sessionId, account)) return true;
        if (RequestId.unwrap(requestId) == bytes32(0)) return false;
        Request storage r = _requests[requestId];
        return r.dso == account && account != address(0) && r.sessionIndex == sessionIndex
            && r.indexAndCancelled & CANCELLED == 0;
    }
}
