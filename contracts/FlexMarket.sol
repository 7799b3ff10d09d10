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
    uint256 private constant MAX_AMOUNT = type(uint96).max;

    /// @dev Everything but the roots fits one slot (8+40+40+40+32+32+40+24 bits): creating a
    /// session writes one slot for its schedule. uint40 seconds last until the year 36812.
    struct Session {
        State state;
        uint40 gateClosure;
        uint40 deliveryStart;
        uint40 deliveryEnd;
        uint32 challengeWindow;
        uint32 ispSeconds;
        uint40 verifiedAt;
        uint24 index;
        bytes32 inputHash;
        bytes32 resultRoot;
        bytes32 deliveryRoot;
        address disputedBy;
        bytes32 disputeReasonHash;
    }

    /// @dev slot 0: dso, session index, index in the session, cancelled; slot 1: budget.
    struct Request {
        address dso;
        uint64 sessionIndex;
        uint16 indexInSession;
        bool cancelled;
        uint128 budget;
        bytes32 congestionPoint;
        bytes32 requestHash;
    }

    struct Commitment {
        bytes32 root;
        uint32 count;
        uint64 committedAt;
    }

    /// @dev credit shares the slot of registeredAt, so crediting a registered party rewrites a
    /// warm non-zero slot (5 000 gas) instead of creating one (22 100 gas).
    struct Participant {
        bytes32 metadataHash;
        uint128 credit;
        uint32 index;
        uint64 registeredAt;
    }

    IERC20 private immutable _token;
    FlexPositions private immutable _positions;

    mapping(bytes32 sessionId => Session) private _sessions;
    mapping(bytes32 sessionId => bytes32[]) private _sessionRequests;
    /// @dev One slot per reservation: amount (96) | payout (96) | request index (16) | FSP index (32).
    mapping(bytes32 sessionId => uint256[]) private _reservations;
    mapping(bytes32 sessionId => mapping(address fsp => Commitment)) private _commitments;
    mapping(bytes32 requestId => Request) private _requests;
    mapping(address account => Participant) private _participants;
    mapping(bytes32 periodId => bool) private _nettingSettled;
    bytes32[] private _sessionIds;
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
        uint256 index = _sessionIds.length;
        if (index > type(uint24).max) revert FlexMarketTooManySessions(uint256(type(uint24).max) + 1);
        s.state = State.Open;
        s.gateClosure = uint40(gateClosure);
        s.deliveryStart = uint40(deliveryStart);
        s.deliveryEnd = uint40(deliveryEnd);
        s.challengeWindow = challengeWindow;
        s.ispSeconds = ispSeconds;
        s.index = uint24(index);
        _sessionIds.push(sessionId);
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
        uint256 indexInSession = _sessionRequests[sessionId].length;
        if (indexInSession >= MAX_REQUESTS_PER_SESSION) {
            revert FlexMarketTooManyRequests(sessionId, MAX_REQUESTS_PER_SESSION);
        }
        r.dso = msg.sender;
        r.sessionIndex = s.index;
        r.indexInSession = uint16(indexInSession);
        r.budget = uint128(budget);
        r.congestionPoint = congestionPoint;
        r.requestHash = requestHash;
        _sessionRequests[sessionId].push(requestId); // direct write: slither tracks it
        _totalDeposited += budget;
        emit RequestPosted(sessionId, requestId, msg.sender, congestionPoint, requestHash, budget);

        _token.safeTransferFrom(msg.sender, address(this), budget);
        _publishOne(true, msg.sender, KIND_REQUEST, s.index, uint32(indexInSession), budget);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Allowed for a DSO whose role was revoked: withdrawing one's own escrow is not a new
    /// market action. The refund is credited (pull payment) like every other payment.
    function cancelRequest(bytes32 requestId) external {
        Request storage r = _requests[requestId];
        if (r.dso == address(0)) revert FlexMarketUnknownRequest(requestId);
        if (r.dso != msg.sender) revert FlexMarketNotRequestOwner(requestId, msg.sender);
        if (r.cancelled) revert FlexMarketRequestAlreadyCancelled(requestId);
        bytes32 sessionId = _sessionIds[r.sessionIndex];
        Session storage s = _requireState(sessionId, State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(sessionId, s.gateClosure, uint64(block.timestamp));
        }
        uint128 budget = r.budget;
        r.cancelled = true;
        _totalCredited += budget;
        _credit(msg.sender, requestId, budget);
        emit RequestCancelled(sessionId, requestId, msg.sender, budget);

        _publishOne(false, msg.sender, KIND_REQUEST, s.index, r.indexInSession, budget);
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
        _commitments[sessionId][msg.sender] =
            Commitment({root: offersRoot, count: offerCount, committedAt: uint64(block.timestamp)});
        emit OffersCommitted(sessionId, msg.sender, offersRoot, offerCount);
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
        uint64 sessionIndex = s.index;
        uint256 totalReserved = _storeReservations(sessionId, sessionIndex, reservationList);
        s.inputHash = inputHash;
        s.resultRoot = resultRoot;
        s.state = State.Cleared;
        emit ClearingPosted(sessionId, inputHash, resultRoot, n, totalReserved);

        if (n != 0) {
            address[] memory holders = new address[](n);
            uint256[] memory ids = new uint256[](n);
            uint256[] memory values = new uint256[](n);
            for (uint256 i = 0; i < n; ++i) {
                holders[i] = reservationList[i].fsp;
                ids[i] = _positionId(KIND_AWARD, sessionIndex, i);
                values[i] = reservationList[i].amount;
            }
            _positions.mint(holders, ids, values);
        }
    }

    /// @dev Validates and stores the reservations in posting order; returns their sum.
    function _storeReservations(bytes32 sessionId, uint64 sessionIndex, Reservation[] calldata reservationList)
        private
        returns (uint256 totalReserved)
    {
        uint256[] memory reservedPerRequest = new uint256[](_sessionRequests[sessionId].length);
        for (uint256 i = 0; i < reservationList.length; ++i) {
            _reservations[sessionId].push(
                _checkReservation(sessionId, sessionIndex, reservationList[i], reservedPerRequest)
            );
            totalReserved += reservationList[i].amount;
        }
    }

    /// @dev One reservation: request of this session, eligible FSP, budget not exceeded.
    function _checkReservation(
        bytes32 sessionId,
        uint64 sessionIndex,
        Reservation calldata res,
        uint256[] memory reservedPerRequest
    ) private view returns (uint256 packed) {
        Request storage r = _requests[res.requestId];
        if (r.dso == address(0) || r.sessionIndex != sessionIndex || r.cancelled) {
            revert FlexMarketRequestNotInSession(sessionId, res.requestId);
        }
        if (res.amount == 0) revert FlexMarketZeroReservation(res.requestId, res.fsp);
        if (!hasRole(FSP_ROLE, res.fsp)) revert FlexMarketFspNotAuthorized(sessionId, res.fsp);
        if (_commitments[sessionId][res.fsp].committedAt == 0) revert FlexMarketFspNotCommitted(sessionId, res.fsp);
        Participant storage p = _participants[res.fsp];
        if (p.registeredAt == 0) revert FlexMarketNotRegistered(res.fsp);
        uint256 requestIndex = r.indexInSession;
        uint256 reserved = reservedPerRequest[requestIndex] + res.amount;
        if (reserved > r.budget) revert FlexMarketBudgetExceeded(res.requestId, r.budget, reserved);
        reservedPerRequest[requestIndex] = reserved;
        packed = _packReservation(res.amount, 0, requestIndex, p.index);
    }

    /// @inheritdoc IFlexMarket
    function attestDelivery(bytes32 sessionId, bytes32 deliveryRoot, uint128[] calldata payouts)
        external
        onlyRole(METER_ORACLE_ROLE)
    {
        Session storage s = _requireState(sessionId, State.Cleared);
        if (block.timestamp < s.deliveryEnd) {
            revert FlexMarketTooEarly(sessionId, s.deliveryEnd, uint64(block.timestamp));
        }
        uint256 total = _setPayouts(sessionId, payouts);
        s.deliveryRoot = deliveryRoot;
        s.verifiedAt = uint40(block.timestamp);
        s.state = State.Verified;
        emit DeliveryAttested(sessionId, deliveryRoot, total, uint64(block.timestamp) + s.challengeWindow);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Open to a party whose role was revoked: it protects money already at stake.
    function dispute(bytes32 sessionId, bytes32 reasonHash) external {
        Session storage s = _requireState(sessionId, State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp >= deadline) revert FlexMarketTooLate(sessionId, deadline, uint64(block.timestamp));
        if (!_isParty(sessionId, msg.sender)) revert FlexMarketNotParty(sessionId, msg.sender);
        s.state = State.Disputed;
        s.disputedBy = msg.sender;
        s.disputeReasonHash = reasonHash;
        emit SessionDisputed(sessionId, msg.sender, reasonHash);
    }

    /// @inheritdoc IFlexMarket
    function resolve(bytes32 sessionId, bytes32 correctedRoot, uint128[] calldata payouts)
        external
        onlyRole(ARBITER_ROLE)
    {
        Session storage s = _requireState(sessionId, State.Disputed);
        uint256 total = _setPayouts(sessionId, payouts);
        s.deliveryRoot = correctedRoot;
        emit DisputeResolved(sessionId, correctedRoot, total);
        _finalize(sessionId, s);
    }

    /// @inheritdoc IFlexMarket
    function finalize(bytes32 sessionId) external {
        Session storage s = _sessions[sessionId];
        if (s.state == State.Final) revert FlexMarketAlreadyFinalized(sessionId);
        _requireState(sessionId, State.Verified);
        uint64 deadline = uint64(s.verifiedAt) + s.challengeWindow;
        if (block.timestamp < deadline) revert FlexMarketTooEarly(sessionId, deadline, uint64(block.timestamp));
        _finalize(sessionId, s);
    }

    /// @dev Moves the whole session escrow into credits: payouts to FSPs, the rest to each DSO.
    function _finalize(bytes32 sessionId, Session storage s) private {
        s.state = State.Final;
        uint64 sessionIndex = s.index;
        uint256 nRequests = _sessionRequests[sessionId].length;
        uint256 nRes = _reservations[sessionId].length;
        // positions: burn every award and live request, mint a receipt per non-zero payout
        Batch memory burns = _newBatch(nRes + nRequests);
        Batch memory mints = _newBatch(nRes);
        uint256[] memory paidPerRequest = new uint256[](nRequests);
        uint256 totalPaid = _creditPayouts(sessionId, sessionIndex, paidPerRequest, burns, mints);
        uint256 totalRefunded = _creditRefunds(sessionId, sessionIndex, paidPerRequest, burns);
        _totalCredited += uint128(totalPaid + totalRefunded); // the session's whole escrow
        emit SessionFinalized(sessionId, totalPaid, totalRefunded);

        _publish(false, burns);
        _publish(true, mints);
    }

    function _creditPayouts(
        bytes32 sessionId,
        uint64 sessionIndex,
        uint256[] memory paidPerRequest,
        Batch memory burns,
        Batch memory mints
    ) private returns (uint256 totalPaid) {
        uint256[] storage stored = _reservations[sessionId];
        uint256 nRes = stored.length;
        for (uint256 i = 0; i < nRes; ++i) {
            uint256 baseId = _positionId(0, sessionIndex, i);
            totalPaid += _settleReservation(sessionId, baseId, stored[i], paidPerRequest, burns, mints);
        }
    }

    /// @dev Credits one reservation's payout and queues its position events; returns the payout.
    function _settleReservation(
        bytes32 sessionId,
        uint256 baseId,
        uint256 word,
        uint256[] memory paidPerRequest,
        Batch memory burns,
        Batch memory mints
    ) private returns (uint256 payout) {
        uint256 amount;
        uint256 requestIndex;
        uint256 fspIndex;
        (amount, payout, requestIndex, fspIndex) = _unpackReservation(word);
        address fsp = _participantList[fspIndex];
        _add(burns, fsp, baseId | (uint256(KIND_AWARD) << 248), amount);
        if (payout == 0) return 0;
        paidPerRequest[requestIndex] += payout;
        _credit(fsp, sessionId, payout);
        _add(mints, fsp, baseId | (uint256(KIND_RECEIPT) << 248), payout);
    }

    function _creditRefunds(bytes32 sessionId, uint64 sessionIndex, uint256[] memory paidPerRequest, Batch memory burns)
        private
        returns (uint256 totalRefunded)
    {
        bytes32[] storage requestIds = _sessionRequests[sessionId];
        uint256 nRequests = requestIds.length;
        for (uint256 j = 0; j < nRequests; ++j) {
            Request storage r = _requests[requestIds[j]];
            if (r.cancelled) continue;
            uint256 budget = r.budget;
            uint256 refund = budget - paidPerRequest[j];
            if (refund != 0) {
                totalRefunded += refund;
                _credit(r.dso, sessionId, refund);
            }
            _add(burns, r.dso, _positionId(KIND_REQUEST, sessionIndex, j), budget);
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
        if (fee > MAX_AMOUNT) revert FlexMarketAmountTooLarge(fee, MAX_AMOUNT);
        int256 sum;
        for (uint256 i = 0; i < n; ++i) {
            int256 amount = netAmounts[i];
            if (amount > int256(MAX_AMOUNT) || amount < -int256(MAX_AMOUNT)) {
                revert FlexMarketAmountTooLarge(amount < 0 ? uint256(-(amount + 1)) + 1 : uint256(amount), MAX_AMOUNT);
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
        p.credit = uint128(credit - amount);
        emit Debited(account, ref, amount);
    }

    // ================================================================== views

    function token() external view returns (address) {
        return address(_token);
    }

    function positions() external view returns (address) {
        return address(_positions);
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
        info.inputHash = s.inputHash;
        info.resultRoot = s.resultRoot;
        info.deliveryRoot = s.deliveryRoot;
        info.disputedBy = s.disputedBy;
        info.disputeReasonHash = s.disputeReasonHash;
        bytes32[] storage requestIds = _sessionRequests[sessionId];
        info.requestCount = uint32(requestIds.length);
        for (uint256 j = 0; j < requestIds.length; ++j) {
            Request storage r = _requests[requestIds[j]];
            if (!r.cancelled) info.budget += r.budget;
        }
        uint256[] storage stored = _reservations[sessionId];
        info.reservationCount = uint32(stored.length);
        for (uint256 i = 0; i < stored.length; ++i) {
            (uint256 amount, uint256 payout,,) = _unpackReservation(stored[i]);
            info.reserved += amount;
            info.paid += payout;
        }
    }

    function sessionIdAt(uint64 index) external view returns (bytes32) {
        return _sessionIds[index];
    }

    function sessionCount() external view returns (uint256) {
        return _sessionIds.length;
    }

    function sessionRequests(bytes32 sessionId) external view returns (bytes32[] memory) {
        return _sessionRequests[sessionId];
    }

    function request(bytes32 requestId) external view returns (RequestInfo memory info) {
        Request storage r = _requests[requestId];
        if (r.dso == address(0)) return info;
        info.sessionId = _sessionIds[r.sessionIndex];
        info.dso = r.dso;
        info.congestionPoint = r.congestionPoint;
        info.requestHash = r.requestHash;
        info.budget = r.budget;
        info.cancelled = r.cancelled;
    }

    function offerCommitment(bytes32 sessionId, address fsp)
        external
        view
        returns (bytes32 root, uint32 count, uint64 committedAt)
    {
        Commitment storage c = _commitments[sessionId][fsp];
        return (c.root, c.count, c.committedAt);
    }

    function reservations(bytes32 sessionId)
        external
        view
        returns (Reservation[] memory list, uint128[] memory payouts)
    {
        uint256[] storage stored = _reservations[sessionId];
        bytes32[] storage requestIds = _sessionRequests[sessionId];
        list = new Reservation[](stored.length);
        payouts = new uint128[](stored.length);
        for (uint256 i = 0; i < stored.length; ++i) {
            (uint256 amount, uint256 payout, uint256 requestIndex, uint256 fspIndex) = _unpackReservation(stored[i]);
            list[i] = Reservation({
                requestId: requestIds[requestIndex], fsp: _participantList[fspIndex], amount: uint128(amount)
            });
            payouts[i] = uint128(payout);
        }
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
        uint8 kind = uint8(id >> 248);
        uint64 sessionIndex = uint64(id >> 32);
        uint256 item = uint32(id);
        if (id != _positionId(kind, sessionIndex, item) || sessionIndex >= _sessionIds.length) return 0;
        bytes32 sessionId = _sessionIds[sessionIndex];
        State state = _sessions[sessionId].state;
        if (kind == KIND_REQUEST) {
            bytes32[] storage requestIds = _sessionRequests[sessionId];
            if (item >= requestIds.length || state == State.Final) return 0;
            Request storage r = _requests[requestIds[item]];
            return (r.dso == account && !r.cancelled) ? r.budget : 0;
        }
        uint256[] storage stored = _reservations[sessionId];
        if (item >= stored.length) return 0;
        (uint256 amount, uint256 payout,, uint256 fspIndex) = _unpackReservation(stored[item]);
        if (_participantList[fspIndex] != account) return 0;
        if (kind == KIND_AWARD) return state == State.Final ? 0 : amount;
        if (kind == KIND_RECEIPT) return state == State.Final ? payout : 0;
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
        _participants[account].credit += uint128(amount);
        emit Credited(account, ref, amount);
    }

    /// @dev Writes payouts into the reservation slots; returns their sum.
    function _setPayouts(bytes32 sessionId, uint128[] calldata payouts) private returns (uint256 total) {
        uint256[] storage stored = _reservations[sessionId];
        uint256 n = stored.length;
        if (payouts.length != n) revert FlexMarketPayoutCountMismatch(sessionId, n, payouts.length);
        for (uint256 i = 0; i < n; ++i) {
            uint256 word = stored[i];
            (uint256 amount, uint256 oldPayout, uint256 requestIndex, uint256 fspIndex) = _unpackReservation(word);
            uint256 payout = payouts[i];
            if (payout > amount) revert FlexMarketPayoutExceedsReservation(sessionId, i, amount, payout);
            if (payout != oldPayout) stored[i] = _packReservation(amount, payout, requestIndex, fspIndex);
            total += payout;
        }
    }

    function _isParty(bytes32 sessionId, address account) private view returns (bool) {
        bytes32[] storage requestIds = _sessionRequests[sessionId];
        for (uint256 j = 0; j < requestIds.length; ++j) {
            Request storage r = _requests[requestIds[j]];
            if (r.dso == account && !r.cancelled) return true;
        }
        Participant storage p = _participants[account];
        if (p.registeredAt == 0) return false;
        uint256[] storage stored = _reservations[sessionId];
        for (uint256 i = 0; i < stored.length; ++i) {
            (,,, uint256 fspIndex) = _unpackReservation(stored[i]);
            if (fspIndex == p.index) return true;
        }
        return false;
    }

    function _isMarketRole(bytes32 role) private pure returns (bool) {
        return role == MARKET_OPERATOR_ROLE || role == DSO_ROLE || role == FSP_ROLE || role == METER_ORACLE_ROLE
            || role == ARBITER_ROLE || role == CLEARING_HOUSE_ROLE;
    }

    function _packReservation(uint256 amount, uint256 payout, uint256 requestIndex, uint256 fspIndex)
        private
        pure
        returns (uint256)
    {
        return amount | (payout << 96) | (requestIndex << 192) | (fspIndex << 208);
    }

    function _unpackReservation(uint256 word)
        private
        pure
        returns (uint256 amount, uint256 payout, uint256 requestIndex, uint256 fspIndex)
    {
        amount = word & MAX_AMOUNT;
        payout = (word >> 96) & MAX_AMOUNT;
        requestIndex = (word >> 192) & 0xffff;
        fspIndex = (word >> 208) & 0xffffffff;
    }

    function _positionId(uint8 kind, uint64 sessionIndex, uint256 item) private pure returns (uint256) {
        return (uint256(kind) << 248) | (uint256(sessionIndex) << 32) | item;
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

    function _publishOne(bool isMint, address holder, uint8 kind, uint64 sessionIndex, uint32 item, uint256 value)
        private
    {
        Batch memory b = _newBatch(1);
        _add(b, holder, _positionId(kind, sessionIndex, item), value);
        _publish(isMint, b);
    }
}
