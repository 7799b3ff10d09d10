// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {SessionId} from "../types/Ids.sol";
import {FlexMarketSessions} from "./FlexMarketSessions.sol";

/// @title FlexMarketCommitments
/// @notice Sealed offers: before gate closure an FSP commits to the Merkle root of its offer set
/// for a session; clearing only awards FSPs that committed.
/// @dev One slot per (session, FSP): the root. Count and time are in OffersCommitted; a later
/// commit before gate closure replaces the root.
abstract contract FlexMarketCommitments is FlexMarketSessions {
    /// @inheritdoc IFlexMarket
    function commitOffers(bytes32 sessionId, bytes32 offersRoot, uint32 offerCount) external onlyRole(FSP_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        if (offersRoot == bytes32(0) || offerCount == 0) {
            revert FlexMarketInvalidCommitment(sessionId, offersRoot, offerCount);
        }
        _commitments[SessionId.wrap(sessionId)][msg.sender] = offersRoot;
        emit OffersCommitted(sessionId, msg.sender, offersRoot, offerCount, uint64(block.timestamp));
    }

    /// @inheritdoc IFlexMarket
    function offerCommitment(bytes32 sessionId, address fsp) external view returns (bytes32 root) {
        return _commitments[SessionId.wrap(sessionId)][fsp];
    }
}
