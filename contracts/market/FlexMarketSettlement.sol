// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {PositionBatch} from "../libraries/PositionBatch.sol";
import {RequestId, SessionId} from "../types/Ids.sol";
import {FlexMarketLedger} from "./FlexMarketLedger.sol";
import {FlexMarketPositions} from "./FlexMarketPositions.sol";
import {FlexMarketSessions} from "./FlexMarketSessions.sol";

/// @title FlexMarketSettlement
/// @notice From clearing to final: the operator posts the reservations, the meter oracle attests
/// the payouts, and after the challenge window finalize credits payouts to FSPs and the rest of
/// each budget back to its DSO.
/// @dev The reservation and payout lists are stored as hashes (reservationsHash, payoutsHash);
/// later steps take the lists back as calldata and revert unless they hash to what is stored.
abstract contract FlexMarketSettlement is FlexMarketSessions, FlexMarketLedger, FlexMarketPositions {
    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_RESERVATIONS_PER_SESSION = 512;

    /// @inheritdoc IFlexMarket
    /// @dev Stores only the hash of the list; the list itself is in the ClearingPosted event.
    function postClearing(
        bytes32 sessionId,
        bytes32 inputHash,
        bytes32 resultRoot,
        Reservation[] calldata reservationList
    ) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Closed);
        uint256 n = reservationList.length;
        if (n > MAX_RESERVATIONS_PER_SESSION) {
            revert FlexMarketTooManyReservations(sessionId, n, MAX_RESERVATIONS_PER_SESSION);
        }
        uint256[] memory reservedPerRequest = new uint256[](s.requestCount);
        uint256 totalReserved;
        mapping(uint256 => uint256) storage committed = _committed[SessionId.wrap(sessionId)];
        for (uint256 i = 0; i < n; ++i) {
            totalReserved += _checkReservation(
                SessionId.wrap(sessionId), s.index, committed, reservationList[i], reservedPerRequest
            );
        }
        s.reservationsHash = keccak256(abi.encode(reservationList));
        s.reservationCount = uint16(n);
        s.reserved = uint72(totalReserved);
        s.state = State.Cleared;
        emit ClearingPosted(sessionId, inputHash, resultRoot, n, totalReserved, reservationList);

        if (n != 0) {
            PositionBatch.Batch memory mints = PositionBatch.create(n);
            for (uint256 i = 0; i < n; ++i) {
                PositionBatch.add(mints, reservationList[i].fsp, _positionId(KIND_AWARD), reservationList[i].amount);
            }
            _publish(true, mints);
        }
    }

    /// @inheritdoc IFlexMarket
    function attestDelivery(
        bytes32 sessionId,
        bytes32 deliveryRoot,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external onlyRole(METER_ORACLE_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Cleared);
        if (block.timestamp < s.deliveryEnd) {
            revert FlexMarketTooEarly(sessionId, s.deliveryEnd, uint64(block.timestamp));
        }
        uint256 total = _setPayouts(SessionId.wrap(sessionId), s, reservationList, payouts);
        s.verifiedAt = uint40(block.timestamp);
        s.state = State.Verified;
        emit DeliveryAttested(sessionId, deliveryRoot, total, uint64(block.timestamp) + s.challengeWindow, payouts);
    }

    /// @inheritdoc IFlexMarket
    /// @dev One flag in slot 1 (refusing a second root) and the event: the digests themselves
    /// are in the published readings bundle, whose root the auditor compares with the event.
    function commitReadingsDigests(bytes32 sessionId, bytes32 root) external onlyRole(METER_ORACLE_ROLE) {
        Session storage s = _requireState(SessionId.wrap(sessionId), State.Cleared);
        if (s.readingsCommitted) revert FlexMarketReadingsAlreadyCommitted(sessionId);
        s.readingsCommitted = true;
        emit ReadingsDigestsCommitted(sessionId, root);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Open to anyone: after the window the outcome is fixed, so who pays the gas does not
    /// matter.
    function finalize(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external {
        Session storage s = _sessions[SessionId.wrap(sessionId)];
        if (s.state == State.Final) revert FlexMarketAlreadyFinalized(sessionId);
        _requireState(SessionId.wrap(sessionId), State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp < deadline) revert FlexMarketTooEarly(sessionId, deadline, uint64(block.timestamp));
        _checkReservations(SessionId.wrap(sessionId), s, reservationList);
        bytes32 payoutsHash = keccak256(abi.encode(payouts));
        if (payoutsHash != s.payoutsHash) revert FlexMarketPayoutsMismatch(sessionId, s.payoutsHash, payoutsHash);
        _finalize(SessionId.wrap(sessionId), s, requestIds, reservationList, payouts);
    }

    /// @dev Moves the whole session escrow into credits: payouts to FSPs, the rest to each DSO.
    /// Callers have checked reservationList and payouts against the stored hashes. Empty
    /// `payouts` pays nothing and refunds every budget (refundStuck of a session never attested;
    /// elsewhere a stored payouts hash of a non-empty list never matches the empty list).
    function _finalize(
        SessionId sessionId,
        Session storage s,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) internal {
        uint256 nRequests = s.requestCount;
        if (requestIds.length != nRequests) {
            revert FlexMarketRequestCountMismatch(SessionId.unwrap(sessionId), nRequests, requestIds.length);
        }
        s.state = State.Final;
        uint256 nRes = reservationList.length;
        // positions: burn every award and live request, mint a receipt per non-zero payout
        PositionBatch.Batch memory burns = PositionBatch.create(nRes + nRequests);
        PositionBatch.Batch memory mints = PositionBatch.create(nRes);
        uint256[] memory paidPerRequest = new uint256[](nRequests);
        uint256 totalPaid = 0;
        for (uint256 i = 0; i < nRes; ++i) {
            totalPaid += _settleReservation(
                sessionId, reservationList[i], payouts.length == 0 ? 0 : payouts[i], paidPerRequest, burns, mints
            );
        }
        uint256 totalRefunded = _creditRefunds(sessionId, s.index, requestIds, paidPerRequest, burns);
        _totalCredited += uint128(totalPaid + totalRefunded); // the session's whole escrow
        emit SessionFinalized(SessionId.unwrap(sessionId), totalPaid, totalRefunded);

        _publish(false, burns);
        _publish(true, mints);
    }

    /// @dev Checks payouts against the posted reservations and stores their hash; returns the sum.
    function _setPayouts(
        SessionId sessionId,
        Session storage s,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) internal returns (uint256 total) {
        _checkReservations(sessionId, s, reservationList);
        uint256 n = reservationList.length;
        if (payouts.length != n) revert FlexMarketPayoutCountMismatch(SessionId.unwrap(sessionId), n, payouts.length);
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = reservationList[i].amount;
            uint256 payout = payouts[i];
            if (payout > amount) {
                revert FlexMarketPayoutExceedsReservation(SessionId.unwrap(sessionId), i, amount, payout);
            }
            total += payout;
        }
        s.payoutsHash = keccak256(abi.encode(payouts));
        s.paid = uint72(total);
    }

    /// @dev One reservation: live request of this session, committed FSP, budget not exceeded.
    /// Adds the amount to the FSP's open AWARD position; returns the amount.
    function _checkReservation(
        SessionId sessionId,
        uint24 sessionIndex,
        mapping(uint256 => uint256) storage committed,
        Reservation calldata res,
        uint256[] memory reservedPerRequest
    ) private returns (uint256 amount) {
        Request storage r = _requests[RequestId.wrap(res.requestId)];
        uint8 packed = r.indexAndCancelled;
        if (r.dso == address(0) || r.sessionIndex != sessionIndex || packed & CANCELLED != 0) {
            revert FlexMarketRequestNotInSession(SessionId.unwrap(sessionId), res.requestId);
        }
        amount = res.amount;
        if (amount == 0) revert FlexMarketZeroReservation(res.requestId, res.fsp);
        // one slot (1, written below anyway): registered, FSP_ROLE (mirrored), commitment index
        Participant storage p = _participants[res.fsp];
        uint256 indexPlusOne = p.indexPlusOne;
        if (indexPlusOne == 0) revert FlexMarketNotRegistered(res.fsp);
        if (!p.fsp) revert FlexMarketFspNotAuthorized(SessionId.unwrap(sessionId), res.fsp);
        uint256 index = indexPlusOne - 1;
        if (committed[index >> 8] & (uint256(1) << (index & 0xff)) == 0) {
            revert FlexMarketFspNotCommitted(SessionId.unwrap(sessionId), res.fsp);
        }
        uint256 requestIndex = packed;
        uint256 reserved = reservedPerRequest[requestIndex] + amount;
        if (reserved > r.budget) revert FlexMarketBudgetExceeded(res.requestId, r.budget, reserved);
        reservedPerRequest[requestIndex] = reserved;
        p.awarded += uint64(amount);
    }

    /// @dev Reverts unless reservationList is the list posted by postClearing.
    function _checkReservations(SessionId sessionId, Session storage s, Reservation[] calldata reservationList)
        internal
        view
    {
        bytes32 actual = keccak256(abi.encode(reservationList));
        bytes32 expected = s.reservationsHash;
        if (actual != expected) revert FlexMarketReservationsMismatch(SessionId.unwrap(sessionId), expected, actual);
    }

    /// @dev Credits one reservation's payout and queues its position events; returns the payout.
    function _settleReservation(
        SessionId sessionId,
        Reservation calldata res,
        uint256 payout,
        uint256[] memory paidPerRequest,
        PositionBatch.Batch memory burns,
        PositionBatch.Batch memory mints
    ) internal returns (uint256) {
        address fsp = res.fsp;
        uint256 amount = res.amount;
        Participant storage p = _participants[fsp];
        p.awarded -= uint64(amount);
        PositionBatch.add(burns, fsp, _positionId(KIND_AWARD), amount);
        if (payout == 0) return 0;
        paidPerRequest[_requests[RequestId.wrap(res.requestId)].indexAndCancelled & ~CANCELLED] += payout;
        uint256 received = p.received + payout;
        // the ledger entry of _credit, on the slot already in hand
        p.received = received > type(uint64).max ? type(uint64).max : uint64(received);
        p.credit += uint96(payout);
        emit Credited(fsp, SessionId.unwrap(sessionId), payout);
        PositionBatch.add(mints, fsp, _positionId(KIND_RECEIPT), payout);
        return payout;
    }

    /// @dev requestIds must be the session's requests in posting order: ids[j] has index j in
    /// this session, so the list is complete and free of duplicates.
    function _creditRefunds(
        SessionId sessionId,
        uint24 sessionIndex,
        bytes32[] calldata requestIds,
        uint256[] memory paidPerRequest,
        PositionBatch.Batch memory burns
    ) internal returns (uint256 totalRefunded) {
        uint256 nRequests = requestIds.length;
        for (uint256 j = 0; j < nRequests; ++j) {
            Request storage r = _requests[RequestId.wrap(requestIds[j])];
            uint8 packed = r.indexAndCancelled;
            if (r.dso == address(0) || r.sessionIndex != sessionIndex || (packed & ~CANCELLED) != j) {
                revert FlexMarketRequestListMismatch(SessionId.unwrap(sessionId), j, requestIds[j]);
            }
            if (packed & CANCELLED != 0) continue;
            address dso = r.dso;
            uint256 budget = r.budget;
            uint256 refund = budget - paidPerRequest[j];
            _participants[dso].requested -= uint128(budget);
            if (refund != 0) {
                totalRefunded += refund;
                _credit(dso, SessionId.unwrap(sessionId), refund);
            }
            PositionBatch.add(burns, dso, _positionId(KIND_REQUEST), budget);
        }
    }
}
