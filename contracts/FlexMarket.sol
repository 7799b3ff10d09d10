// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {FlexPositions} from "./FlexPositions.sol";

/// @title FlexMarket
/// @notice Escrow and settlement ledger of the local flexibility market. DSO budgets are pulled
/// into escrow, FSPs commit to sealed offer sets (Merkle roots), the operator posts the clearing
/// result with per (request, FSP) reservations, the meter oracle attests payouts, a challenge
/// window allows disputes, and finalize moves every escrowed unit into the internal credit
/// ledger (payouts to FSPs, the rest back to the DSO). Payees pull with withdraw().
/// @dev Money invariant: token.balanceOf(this) == totalEscrowed + totalCredited (fee-on-transfer
/// and rebasing tokens are not supported). Cancels refund by credit too, so every payment out of
/// this contract is a pull. Loops are bounded by the MAX_* constants.
/// Storage is kept to what the money logic needs: lists (reservations, payouts, the session's
/// request ids) are stored as hashes and passed back as calldata, which is checked against them;
/// the full lists are published in events.
contract FlexMarket is IFlexMarket, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant MARKET_OPERATOR_ROLE = keccak256("MARKET_OPERATOR_ROLE");
    bytes32 public constant DSO_ROLE = keccak256("DSO_ROLE");
    bytes32 public constant FSP_ROLE = keccak256("FSP_ROLE");
    bytes32 public constant METER_ORACLE_ROLE = keccak256("METER_ORACLE_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    bytes32 public constant CLEARING_HOUSE_ROLE = keccak256("CLEARING_HOUSE_ROLE");

    uint256 public constant MAX_REQUESTS_PER_SESSION = 64;
    uint256 public constant MAX_RESERVATIONS_PER_SESSION = 512;
    uint256 public constant MAX_NETTING_MEMBERS = 256;
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;
    uint256 private constant MAX_ROLES = 6;
    /// @dev Budgets and reservations: one request's budget is a uint64 in its packed slot
    /// (1.8e19 minor units = 1.8e13 tokens at 6 decimals).
    uint256 private constant MAX_AMOUNT = type(uint64).max;
    /// @dev Netting amounts keep their earlier bound.
    uint256 private constant MAX_NET_AMOUNT = type(uint96).max;

    /// @dev slot 0 (schedule, 256 bits) and slot 1 (counters and totals, 240 bits) are written
    /// by the normal lifecycle; the two hashes once each. uint40 seconds last until year 36812.
    struct Session {
        State state;
        uint40 gateClosure;
        uint40 deliveryStart;
        uint40 deliveryEnd;
        uint32 challengeWindow;
        uint32 ispSeconds;
        uint40 verifiedAt;
        uint24 index;
        uint8 requestCount;
        uint16 reservationCount;
        uint72 budget; // <= 64 * 2^64 < 2^72
        uint72 reserved;
        uint72 paid;
        bytes32 reservationsHash;
        bytes32 payoutsHash;
        address disputedBy;
        bytes32 disputeReasonHash;
    }

    /// @dev slot 0: dso (160) | session index (24) | index in session (7) + cancelled (1) |
    /// budget (64); slot 1: requestHash (which binds the congestion point).
    struct Request {
        address dso;
        uint24 sessionIndex;
        uint8 indexAndCancelled; // low 7 bits: index in the session; bit 7: cancelled
        uint64 budget;
        bytes32 requestHash;
    }

    /// @dev Slot 1 holds everything an FSP's session touches (credit, AWARD, RECEIPT) next to
    /// `live`, which registration sets to 1 and nothing clears: clearing, finalize and withdraw
    /// rewrite a non-zero slot (2 900 gas warm) and never create one (22 100 gas). Slot 2 holds
    /// the DSO's REQUEST position next to registeredAt, for the same reason.
    /// Bounds: credit < 2^96 holds because credits are backed by tokens the market holds
    /// (token supplies above 2^96 minor units are not supported); awarded < 2^72 (overflow
    /// reverts postClearing); received saturates at 2^80 - 1 so it can never block finalize.
    struct Participant {
        bytes32 metadataHash;
        uint96 credit;
        uint72 awarded; // AWARD position: reservations of sessions not yet final
        uint80 received; // RECEIPT position: payouts received from finalized sessions
        uint8 live;
        uint64 registeredAt;
        uint32 index;
        uint128 requested; // REQUEST position: budgets of live requests of sessions not yet final
    }

    uint8 private constant CANCELLED = 0x80;

    IERC20 private immutable _token;
    FlexPositions private immutable _positions;
    uint256 private immutable _deployBlock;

    mapping(bytes32 sessionId => Session) private _sessions;
    /// @dev The offer root only; count and time are in the OffersCommitted event.
    mapping(bytes32 sessionId => mapping(address fsp => bytes32 root)) private _commitments;
    mapping(bytes32 requestId => Request) private _requests;
    mapping(address account => Participant) private _participants;
    mapping(bytes32 periodId => bool) private _nettingSettled;
    /// @dev Sessions ever created; a session's index is its sequence number. Requests store the
    /// 24-bit index of their session, and callers name the session id, which is checked.
    uint256 private _sessionCount;
    address[] private _participantList;
    /// @dev Three stored totals, one derived: escrowed = deposited - credited - withdrawn.
    /// A deposit writes one slot; a credit or a withdrawal writes the other one.
    uint256 private _totalDeposited;
    uint128 private _totalCredited;
    uint128 private _totalWithdrawn;

    constructor(IERC20 token_, address admin) {
        if (address(token_) == address(0) || admin == address(0)) revert FlexMarketZeroAddress();
        _token = token_;
        _positions = new FlexPositions(address(this));
        _deployBlock = block.number;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ================================================================== registry

    /// @inheritdoc IFlexMarket
    function registerParticipant(address account, bytes32 metadataHash, bytes32[] calldata roles)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (account == address(0)) revert FlexMarketZeroAddress();
        if (roles.length > MAX_ROLES) revert FlexMarketTooManyRoles(roles.length, MAX_ROLES);
        for (uint256 i = 0; i < roles.length; ++i) {
            if (!_isMarketRole(roles[i])) revert FlexMarketUnknownRole(roles[i]);
        }
        Participant storage p = _participants[account];
        if (p.registeredAt == 0) {
            uint256 index = _participantList.length;
            if (index > type(uint32).max) revert FlexMarketTooManyParticipants(uint256(type(uint32).max) + 1);
            p.index = uint32(index);
            p.registeredAt = uint64(block.timestamp);
            p.live = 1;
            _participantList.push(account);
        }
        p.metadataHash = metadataHash;
        for (uint256 i = 0; i < roles.length; ++i) {
            _grantRole(roles[i], account);
        }
        emit ParticipantRegistered(account, metadataHash, roles);
    }

    /// @inheritdoc IFlexMarket
    function revokeParticipant(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_participants[account].registeredAt == 0) revert FlexMarketNotRegistered(account);
        _revokeRole(MARKET_OPERATOR_ROLE, account);
        _revokeRole(DSO_ROLE, account);
        _revokeRole(FSP_ROLE, account);
        _revokeRole(METER_ORACLE_ROLE, account);
        _revokeRole(ARBITER_ROLE, account);
        _revokeRole(CLEARING_HOUSE_ROLE, account);
        emit ParticipantRevoked(account);
    }

    function participantMetadata(address account) external view returns (bytes32) {
        return _participants[account].metadataHash;
    }

    function isRegistered(address account) external view returns (bool) {
        return _participants[account].registeredAt != 0;
    }

    // ================================================================== sessions

    /// @inheritdoc IFlexMarket
    function createSession(
        bytes32 sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint32 ispSeconds,
        uint32 challengeWindow
    ) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _sessions[sessionId];
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
        emit SessionCreated(sessionId, gateClosure, deliveryStart, deliveryEnd, ispSeconds, challengeWindow);
    }

    /// @inheritdoc IFlexMarket
    function postRequest(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) external nonReentrant onlyRole(DSO_ROLE) {
        _postRequest(sessionId, requestId, congestionPoint, requestHash, budget);
    }

    /// @inheritdoc IFlexMarket
    /// @dev The permit may have been front-run (its nonce used by someone relaying the same
    /// signature); the allowance then already exists, so a failing permit is ignored and the
    /// transferFrom decides.
    function postRequestWithPermit(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant onlyRole(DSO_ROLE) {
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), budget, deadline, v, r, s) {} catch {}
        _postRequest(sessionId, requestId, congestionPoint, requestHash, budget);
    }

    function _postRequest(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) private {
        Session storage s = _requireState(sessionId, State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        Request storage r = _requests[requestId];
        if (r.dso != address(0)) revert FlexMarketRequestExists(requestId);
        if (budget == 0) revert FlexMarketZeroBudget(requestId);
        if (budget > MAX_AMOUNT) revert FlexMarketAmountTooLarge(budget, MAX_AMOUNT);
        uint256 indexInSession = s.requestCount;
        if (indexInSession >= MAX_REQUESTS_PER_SESSION) {
            revert FlexMarketTooManyRequests(sessionId, MAX_REQUESTS_PER_SESSION);
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
        emit RequestPosted(sessionId, requestId, msg.sender, congestionPoint, requestHash, budget);

        _token.safeTransferFrom(msg.sender, address(this), budget);
        _publishOne(true, msg.sender, KIND_REQUEST, budget);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Allowed for a DSO whose role was revoked: withdrawing one's own escrow is not a new
    /// market action. The refund is credited (pull payment) like every other payment.
    function cancelRequest(bytes32 sessionId, bytes32 requestId) external {
        Request storage r = _requests[requestId];
        if (r.dso == address(0)) revert FlexMarketUnknownRequest(requestId);
        if (r.dso != msg.sender) revert FlexMarketNotRequestOwner(requestId, msg.sender);
        uint8 packed = r.indexAndCancelled;
        if (packed & CANCELLED != 0) revert FlexMarketRequestAlreadyCancelled(requestId);
        Session storage s = _requireState(sessionId, State.Open);
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
    function commitOffers(bytes32 sessionId, bytes32 offersRoot, uint32 offerCount) external onlyRole(FSP_ROLE) {
        Session storage s = _requireState(sessionId, State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        if (offersRoot == bytes32(0) || offerCount == 0) {
            revert FlexMarketInvalidCommitment(sessionId, offersRoot, offerCount);
        }
        _commitments[sessionId][msg.sender] = offersRoot;
        emit OffersCommitted(sessionId, msg.sender, offersRoot, offerCount, uint64(block.timestamp));
    }

    /// @inheritdoc IFlexMarket
    function closeSession(bytes32 sessionId) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _requireState(sessionId, State.Open);
        if (block.timestamp < s.gateClosure) {
            revert FlexMarketTooEarly(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        s.state = State.Closed;
        emit SessionClosed(sessionId);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Stores only the hash of the list; the list itself is in the ClearingPosted event.
    function postClearing(
        bytes32 sessionId,
        bytes32 inputHash,
        bytes32 resultRoot,
        Reservation[] calldata reservationList
    ) external onlyRole(MARKET_OPERATOR_ROLE) {
        Session storage s = _requireState(sessionId, State.Closed);
        uint256 n = reservationList.length;
        if (n > MAX_RESERVATIONS_PER_SESSION) {
            revert FlexMarketTooManyReservations(sessionId, n, MAX_RESERVATIONS_PER_SESSION);
        }
        uint256[] memory reservedPerRequest = new uint256[](s.requestCount);
        uint256 totalReserved;
        for (uint256 i = 0; i < n; ++i) {
            totalReserved += _checkReservation(sessionId, s.index, reservationList[i], reservedPerRequest);
        }
        s.reservationsHash = keccak256(abi.encode(reservationList));
        s.reservationCount = uint16(n);
        s.reserved = uint72(totalReserved);
        s.state = State.Cleared;
        emit ClearingPosted(sessionId, inputHash, resultRoot, n, totalReserved, reservationList);

        if (n != 0) {
            Batch memory mints = _newBatch(n);
            for (uint256 i = 0; i < n; ++i) {
                _add(mints, reservationList[i].fsp, _positionId(KIND_AWARD), reservationList[i].amount);
            }
            _publish(true, mints);
        }
    }

    /// @dev One reservation: live request of this session, committed FSP, budget not exceeded.
    /// Adds the amount to the FSP's open AWARD position; returns the amount.
    function _checkReservation(
        bytes32 sessionId,
        uint24 sessionIndex,
        Reservation calldata res,
        uint256[] memory reservedPerRequest
    ) private returns (uint256 amount) {
        Request storage r = _requests[res.requestId];
        uint8 packed = r.indexAndCancelled;
        if (r.dso == address(0) || r.sessionIndex != sessionIndex || packed & CANCELLED != 0) {
            revert FlexMarketRequestNotInSession(sessionId, res.requestId);
        }
        amount = res.amount;
        if (amount == 0) revert FlexMarketZeroReservation(res.requestId, res.fsp);
        if (!hasRole(FSP_ROLE, res.fsp)) revert FlexMarketFspNotAuthorized(sessionId, res.fsp);
        if (_commitments[sessionId][res.fsp] == bytes32(0)) revert FlexMarketFspNotCommitted(sessionId, res.fsp);
        Participant storage p = _participants[res.fsp];
        if (p.live == 0) revert FlexMarketNotRegistered(res.fsp); // slot 1, written below anyway
        uint256 requestIndex = packed;
        uint256 reserved = reservedPerRequest[requestIndex] + amount;
        if (reserved > r.budget) revert FlexMarketBudgetExceeded(res.requestId, r.budget, reserved);
        reservedPerRequest[requestIndex] = reserved;
        p.awarded += uint72(amount);
    }

    /// @inheritdoc IFlexMarket
    function attestDelivery(
        bytes32 sessionId,
        bytes32 deliveryRoot,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external onlyRole(METER_ORACLE_ROLE) {
        Session storage s = _requireState(sessionId, State.Cleared);
        if (block.timestamp < s.deliveryEnd) {
            revert FlexMarketTooEarly(sessionId, s.deliveryEnd, uint64(block.timestamp));
        }
        uint256 total = _setPayouts(sessionId, s, reservationList, payouts);
        s.verifiedAt = uint40(block.timestamp);
        s.state = State.Verified;
        emit DeliveryAttested(sessionId, deliveryRoot, total, uint64(block.timestamp) + s.challengeWindow, payouts);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Open to a party whose role was revoked: it protects money already at stake. A DSO
    /// names one of its live requests in the session; an FSP must have committed offers to it.
    function dispute(bytes32 sessionId, bytes32 reasonHash, bytes32 requestId) external {
        Session storage s = _requireState(sessionId, State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp >= deadline) revert FlexMarketTooLate(sessionId, deadline, uint64(block.timestamp));
        if (!_isParty(sessionId, s.index, msg.sender, requestId)) revert FlexMarketNotParty(sessionId, msg.sender);
        s.state = State.Disputed;
        s.disputedBy = msg.sender;
        s.disputeReasonHash = reasonHash;
        emit SessionDisputed(sessionId, msg.sender, reasonHash);
    }

    /// @inheritdoc IFlexMarket
    function resolve(
        bytes32 sessionId,
        bytes32 correctedRoot,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external onlyRole(ARBITER_ROLE) {
        Session storage s = _requireState(sessionId, State.Disputed);
        uint256 total = _setPayouts(sessionId, s, reservationList, payouts);
        emit DisputeResolved(sessionId, correctedRoot, total, payouts);
        _finalize(sessionId, s, requestIds, reservationList, payouts);
    }

    /// @inheritdoc IFlexMarket
    function finalize(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external {
        Session storage s = _sessions[sessionId];
        if (s.state == State.Final) revert FlexMarketAlreadyFinalized(sessionId);
        _requireState(sessionId, State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp < deadline) revert FlexMarketTooEarly(sessionId, deadline, uint64(block.timestamp));
        _checkReservations(sessionId, s, reservationList);
        bytes32 payoutsHash = keccak256(abi.encode(payouts));
        if (payoutsHash != s.payoutsHash) revert FlexMarketPayoutsMismatch(sessionId, s.payoutsHash, payoutsHash);
        _finalize(sessionId, s, requestIds, reservationList, payouts);
    }

    /// @dev Moves the whole session escrow into credits: payouts to FSPs, the rest to each DSO.
    /// Callers have checked reservationList and payouts against the stored hashes.
    function _finalize(
        bytes32 sessionId,
        Session storage s,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) private {
        uint256 nRequests = s.requestCount;
        if (requestIds.length != nRequests) {
            revert FlexMarketRequestCountMismatch(sessionId, nRequests, requestIds.length);
        }
        s.state = State.Final;
        uint256 nRes = reservationList.length;
        // positions: burn every award and live request, mint a receipt per non-zero payout
        Batch memory burns = _newBatch(nRes + nRequests);
        Batch memory mints = _newBatch(nRes);
        uint256[] memory paidPerRequest = new uint256[](nRequests);
        uint256 totalPaid;
        for (uint256 i = 0; i < nRes; ++i) {
            totalPaid += _settleReservation(sessionId, reservationList[i], payouts[i], paidPerRequest, burns, mints);
        }
        uint256 totalRefunded = _creditRefunds(sessionId, s.index, requestIds, paidPerRequest, burns);
        _totalCredited += uint128(totalPaid + totalRefunded); // the session's whole escrow
        emit SessionFinalized(sessionId, totalPaid, totalRefunded);

        _publish(false, burns);
        _publish(true, mints);
    }

    /// @dev Credits one reservation's payout and queues its position events; returns the payout.
    function _settleReservation(
        bytes32 sessionId,
        Reservation calldata res,
        uint256 payout,
        uint256[] memory paidPerRequest,
        Batch memory burns,
        Batch memory mints
    ) private returns (uint256) {
        address fsp = res.fsp;
        uint256 amount = res.amount;
        Participant storage p = _participants[fsp];
        p.awarded -= uint72(amount);
        _add(burns, fsp, _positionId(KIND_AWARD), amount);
        if (payout == 0) return 0;
        paidPerRequest[_requests[res.requestId].indexAndCancelled & ~CANCELLED] += payout;
        uint256 received = p.received + payout;
        p.received = received > type(uint80).max ? type(uint80).max : uint80(received);
        _credit(fsp, sessionId, payout);
        _add(mints, fsp, _positionId(KIND_RECEIPT), payout);
        return payout;
    }

    /// @dev requestIds must be the session's requests in posting order: ids[j] has index j in
    /// this session, so the list is complete and free of duplicates.
    function _creditRefunds(
        bytes32 sessionId,
        uint24 sessionIndex,
        bytes32[] calldata requestIds,
        uint256[] memory paidPerRequest,
        Batch memory burns
    ) private returns (uint256 totalRefunded) {
        uint256 nRequests = requestIds.length;
        for (uint256 j = 0; j < nRequests; ++j) {
            Request storage r = _requests[requestIds[j]];
            uint8 packed = r.indexAndCancelled;
            if (r.dso == address(0) || r.sessionIndex != sessionIndex || (packed & ~CANCELLED) != j) {
                revert FlexMarketRequestListMismatch(sessionId, j, requestIds[j]);
            }
            if (packed & CANCELLED != 0) continue;
            address dso = r.dso;
            uint256 budget = r.budget;
            uint256 refund = budget - paidPerRequest[j];
            _participants[dso].requested -= uint128(budget);
            if (refund != 0) {
                totalRefunded += refund;
                _credit(dso, sessionId, refund);
            }
            _add(burns, dso, _positionId(KIND_REQUEST), budget);
        }
    }

    // ================================================================== payments

    /// @inheritdoc IFlexMarket
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _withdraw(msg.sender);
    }

    /// @inheritdoc IFlexMarket
    function withdrawTo(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert FlexMarketZeroAddress();
        amount = _withdraw(to);
    }

    function _withdraw(address to) private returns (uint256 amount) {
        Participant storage p = _participants[msg.sender];
        amount = p.credit;
        if (amount == 0) revert FlexMarketNothingToWithdraw(msg.sender);
        p.credit = 0;
        _totalCredited -= uint128(amount);
        _totalWithdrawn += uint128(amount);
        emit Withdrawn(msg.sender, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Uniswap v4 style: all deltas plus the fee must net to zero or the call reverts, so
    /// netting can only move credit between members and never create or destroy it.
    function settleNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external onlyRole(CLEARING_HOUSE_ROLE) {
        if (_nettingSettled[periodId]) revert FlexMarketNettingAlreadySettled(periodId);
        _checkNetting(periodId, members, netAmounts, fee, feeRecipient);
        _nettingSettled[periodId] = true;
        uint256 n = members.length;
        // debits first, so a member's credit from this period cannot fund its own debit
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount < 0) _debit(members[i], periodId, uint256(-amount));
        }
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > 0) _credit(members[i], periodId, uint256(amount));
        }
        if (fee != 0) _credit(feeRecipient, periodId, fee);
        // totalCredited is unchanged: debits == credits + fee was checked above
        emit NettingSettled(periodId, n, fee, feeRecipient);
    }

    /// @dev Shape, range and the zero-sum rule: sum(netAmounts) + fee == 0.
    function _checkNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) private pure {
        uint256 n = members.length;
        if (n != netAmounts.length) revert FlexMarketNettingLengthMismatch(n, netAmounts.length);
        if (n > MAX_NETTING_MEMBERS) revert FlexMarketTooManyMembers(n, MAX_NETTING_MEMBERS);
        if (fee != 0 && feeRecipient == address(0)) revert FlexMarketZeroAddress();
        if (fee > MAX_NET_AMOUNT) revert FlexMarketAmountTooLarge(fee, MAX_NET_AMOUNT);
        int256 sum;
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > int256(MAX_NET_AMOUNT) || amount < -int256(MAX_NET_AMOUNT)) {
                revert FlexMarketAmountTooLarge(
                    amount < 0 ? uint256(-(amount + 1)) + 1 : uint256(amount), MAX_NET_AMOUNT
                );
            }
            if (members[i] == address(0)) revert FlexMarketZeroAddress();
            sum += amount;
        }
        if (sum + int256(fee) != 0) revert FlexMarketNettingNotBalanced(periodId, sum, fee);
    }

    function _debit(address account, bytes32 ref, uint256 amount) private {
        Participant storage p = _participants[account];
        uint256 credit = p.credit;
        if (credit < amount) revert FlexMarketInsufficientCredit(account, credit, amount);
        p.credit = uint96(credit - amount);
        emit Debited(account, ref, amount);
    }

    // ================================================================== views

    function token() external view returns (address) {
        return address(_token);
    }

    function positions() external view returns (address) {
        return address(_positions);
    }

    function deployBlock() external view returns (uint256) {
        return _deployBlock;
    }

    function session(bytes32 sessionId) external view returns (SessionInfo memory info) {
        Session storage s = _sessions[sessionId];
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
    }

    function sessionCount() external view returns (uint256) {
        return _sessionCount;
    }

    function request(bytes32 requestId) external view returns (RequestInfo memory info) {
        Request storage r = _requests[requestId];
        if (r.dso == address(0)) return info;
        uint8 packed = r.indexAndCancelled;
        info.sessionIndex = r.sessionIndex;
        info.dso = r.dso;
        info.requestHash = r.requestHash;
        info.budget = r.budget;
        info.cancelled = packed & CANCELLED != 0;
        info.indexInSession = packed & ~CANCELLED;
    }

    function offerCommitment(bytes32 sessionId, address fsp) external view returns (bytes32 root) {
        return _commitments[sessionId][fsp];
    }

    function credits(address account) external view returns (uint256) {
        return _participants[account].credit;
    }

    function totalEscrowed() external view returns (uint256) {
        return _totalDeposited - _totalCredited - _totalWithdrawn;
    }

    function totalCredited() external view returns (uint256) {
        return _totalCredited;
    }

    function totalDeposited() external view returns (uint256) {
        return _totalDeposited;
    }

    function totalWithdrawn() external view returns (uint256) {
        return _totalWithdrawn;
    }

    function nettingSettled(bytes32 periodId) external view returns (bool) {
        return _nettingSettled[periodId];
    }

    /// @inheritdoc IFlexMarket
    function positionBalance(address account, uint256 id) external view returns (uint256) {
        Participant storage p = _participants[account];
        if (id == _positionId(KIND_REQUEST)) return p.requested;
        if (id == _positionId(KIND_AWARD)) return p.awarded;
        if (id == _positionId(KIND_RECEIPT)) return p.received;
        return 0;
    }

    // ================================================================== internals

    uint8 private constant KIND_REQUEST = 1;
    uint8 private constant KIND_AWARD = 2;
    uint8 private constant KIND_RECEIPT = 3;

    function _requireState(bytes32 sessionId, State expected) private view returns (Session storage s) {
        s = _sessions[sessionId];
        if (s.state != expected) revert FlexMarketNotInState(sessionId, expected, s.state);
    }

    /// @dev Ledger entry only; callers move the totals once per transaction.
    function _credit(address account, bytes32 ref, uint256 amount) private {
        _participants[account].credit += uint96(amount);
        emit Credited(account, ref, amount);
    }

    /// @dev Reverts unless reservationList is the list posted by postClearing.
    function _checkReservations(bytes32 sessionId, Session storage s, Reservation[] calldata reservationList)
        private
        view
    {
        bytes32 actual = keccak256(abi.encode(reservationList));
        bytes32 expected = s.reservationsHash;
        if (actual != expected) revert FlexMarketReservationsMismatch(sessionId, expected, actual);
    }

    /// @dev Checks payouts against the posted reservations and stores their hash; returns the sum.
    function _setPayouts(
        bytes32 sessionId,
        Session storage s,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) private returns (uint256 total) {
        _checkReservations(sessionId, s, reservationList);
        uint256 n = reservationList.length;
        if (payouts.length != n) revert FlexMarketPayoutCountMismatch(sessionId, n, payouts.length);
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = reservationList[i].amount;
            uint256 payout = payouts[i];
            if (payout > amount) revert FlexMarketPayoutExceedsReservation(sessionId, i, amount, payout);
            total += payout;
        }
        s.payoutsHash = keccak256(abi.encode(payouts));
        s.paid = uint72(total);
    }

    /// @dev A party has money at stake: an FSP that committed offers, or the DSO of a live
    /// request of the session (named by the caller).
    function _isParty(bytes32 sessionId, uint24 sessionIndex, address account, bytes32 requestId)
        private
        view
        returns (bool)
    {
        if (_commitments[sessionId][account] != bytes32(0)) return true;
        if (requestId == bytes32(0)) return false;
        Request storage r = _requests[requestId];
        return r.dso == account && account != address(0) && r.sessionIndex == sessionIndex
            && r.indexAndCancelled & CANCELLED == 0;
    }

    function _isMarketRole(bytes32 role) private pure returns (bool) {
        return role == MARKET_OPERATOR_ROLE || role == DSO_ROLE || role == FSP_ROLE || role == METER_ORACLE_ROLE
            || role == ARBITER_ROLE || role == CLEARING_HOUSE_ROLE;
    }

    /// @dev Positions are aggregated per holder and kind: the id is just the kind.
    function _positionId(uint8 kind) private pure returns (uint256) {
        return uint256(kind) << 248;
    }

    /// @dev Position events to publish in one call to FlexPositions.
    struct Batch {
        address[] holders;
        uint256[] ids;
        uint256[] values;
        uint256 len;
    }

    function _newBatch(uint256 capacity) private pure returns (Batch memory b) {
        b.holders = new address[](capacity);
        b.ids = new uint256[](capacity);
        b.values = new uint256[](capacity);
    }

    function _add(Batch memory b, address holder, uint256 id, uint256 value) private pure {
        uint256 k = b.len;
        b.holders[k] = holder;
        b.ids[k] = id;
        b.values[k] = value;
        b.len = k + 1;
    }

    function _publish(bool isMint, Batch memory b) private {
        if (b.len == 0) return;
        address[] memory holders = b.holders;
        uint256[] memory ids = b.ids;
        uint256[] memory values = b.values;
        uint256 len = b.len;
        // shorten the arrays in place to their used length (no copy)
        assembly ("memory-safe") {
            mstore(holders, len)
            mstore(ids, len)
            mstore(values, len)
        }
        if (isMint) _positions.mint(holders, ids, values);
        else _positions.burn(holders, ids, values);
    }

    function _publishOne(bool isMint, address holder, uint8 kind, uint256 value) private {
        Batch memory b = _newBatch(1);
        _add(b, holder, _positionId(kind), value);
        _publish(isMint, b);
    }
}
