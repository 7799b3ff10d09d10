// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IFlexMarket
/// @notice ABI of the flexibility market: participant registry, sessions, escrowed DSO budgets,
/// sealed offer commitments, clearing, delivery attestation, disputes, an internal credit
/// ledger with pull payments, and multilateral netting. Every id is a plain bytes32 on the ABI.
/// Money is in the settlement token's minor units. Times are unix seconds (block.timestamp).
interface IFlexMarket {
    // ------------------------------------------------------------------ types

    /// @notice Session state machine. DELIVERING is off-chain only (between Cleared and Verified).
    enum State {
        None, // 0: unknown session
        Open, // 1: requests and offer commitments accepted until gate closure
        Closed, // 2: gate closed, waiting for the clearing result
        Cleared, // 3: reservations posted, delivery runs off-chain
        Verified, // 4: delivery attested, challenge window running
        Disputed, // 5: a party disputed inside the window, waiting for the arbiter
        Final // 6: payouts credited, remainder refunded, positions burned
    }

    /// @notice Maximum payment reserved for one FSP against one request.
    struct Reservation {
        bytes32 requestId;
        address fsp;
        uint128 amount;
    }

    struct SessionInfo {
        State state;
        uint64 gateClosure;
        uint64 deliveryStart;
        uint64 deliveryEnd;
        uint32 ispSeconds;
        uint32 challengeWindow;
        uint64 verifiedAt; // when attestDelivery ran; the window ends at verifiedAt + challengeWindow
        uint64 index; // sequence number of the session, used in position ids
        uint32 requestCount; // requests ever posted (cancelled ones included)
        uint32 reservationCount;
        uint256 budget; // sum of budgets of non-cancelled requests
        uint256 reserved; // sum of reservations
        uint256 paid; // sum of attested (or resolved) payouts
        bytes32 reservationsHash; // keccak256(abi.encode(reservations)) of postClearing
        bytes32 payoutsHash; // keccak256(abi.encode(payouts)) of attestDelivery (or resolve)
        address disputedBy;
        bytes32 disputeReasonHash;
    }

    struct RequestInfo {
        uint64 sessionIndex; // sequence number of its session (the id is in RequestPosted)
        address dso;
        bytes32 requestHash; // binds the congestion point (which is in the RequestPosted event)
        uint256 budget;
        bool cancelled;
        uint8 indexInSession; // posting order within the session (0-based)
    }

    // ------------------------------------------------------------------ events

    event ParticipantRegistered(address indexed account, bytes32 metadataHash, bytes32[] roles);
    event ParticipantRevoked(address indexed account);
    event SessionCreated(
        bytes32 indexed sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint32 ispSeconds,
        uint32 challengeWindow
    );
    event RequestPosted(
        bytes32 indexed sessionId,
        bytes32 indexed requestId,
        address indexed dso,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    );
    event RequestCancelled(bytes32 indexed sessionId, bytes32 indexed requestId, address indexed dso, uint256 refund);
    event OffersCommitted(
        bytes32 indexed sessionId, address indexed fsp, bytes32 offersRoot, uint32 offerCount, uint64 committedAt
    );
    event SessionClosed(bytes32 indexed sessionId);
    event ClearingPosted(
        bytes32 indexed sessionId,
        bytes32 inputHash,
        bytes32 resultRoot,
        uint256 reservationCount,
        uint256 totalReserved,
        Reservation[] reservations
    );
    /// @notice payouts[i] belongs to the i-th reservation of ClearingPosted.
    event DeliveryAttested(
        bytes32 indexed sessionId,
        bytes32 deliveryRoot,
        uint256 totalPayout,
        uint64 challengeDeadline,
        uint128[] payouts
    );
    event SessionDisputed(bytes32 indexed sessionId, address indexed by, bytes32 reasonHash);
    event DisputeResolved(bytes32 indexed sessionId, bytes32 correctedRoot, uint256 totalPayout, uint128[] payouts);
    event SessionFinalized(bytes32 indexed sessionId, uint256 totalPaid, uint256 totalRefunded);
    /// @notice Internal ledger credit; ref is the session id, the request id (cancel) or the netting period id.
    event Credited(address indexed account, bytes32 indexed ref, uint256 amount);
    /// @notice Internal ledger debit by netting.
    event Debited(address indexed account, bytes32 indexed ref, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event NettingSettled(bytes32 indexed periodId, uint256 memberCount, uint256 fee, address indexed feeRecipient);

    // ------------------------------------------------------------------ errors

    error FlexMarketZeroAddress();
    error FlexMarketUnknownRole(bytes32 role);
    error FlexMarketTooManyRoles(uint256 count, uint256 max);
    error FlexMarketNotRegistered(address account);
    error FlexMarketTooManyParticipants(uint256 max);
    error FlexMarketSessionExists(bytes32 sessionId);
    error FlexMarketTooManySessions(uint256 max);
    error FlexMarketNotInState(bytes32 sessionId, State expected, State actual);
    error FlexMarketAlreadyFinalized(bytes32 sessionId);
    error FlexMarketGateClosureNotInFuture(uint64 gateClosure, uint64 now_);
    error FlexMarketInvalidDeliveryWindow(uint64 gateClosure, uint64 deliveryStart, uint64 deliveryEnd);
    error FlexMarketInvalidIsp(uint32 ispSeconds, uint64 windowSeconds);
    error FlexMarketInvalidChallengeWindow(uint32 challengeWindow, uint32 max);
    error FlexMarketTooEarly(bytes32 sessionId, uint64 notBefore, uint64 now_);
    error FlexMarketTooLate(bytes32 sessionId, uint64 deadline, uint64 now_);
    error FlexMarketRequestExists(bytes32 requestId);
    error FlexMarketUnknownRequest(bytes32 requestId);
    error FlexMarketRequestAlreadyCancelled(bytes32 requestId);
    error FlexMarketNotRequestOwner(bytes32 requestId, address caller);
    error FlexMarketZeroBudget(bytes32 requestId);
    error FlexMarketAmountTooLarge(uint256 amount, uint256 max);
    error FlexMarketTooManyRequests(bytes32 sessionId, uint256 max);
    error FlexMarketInvalidCommitment(bytes32 sessionId, bytes32 offersRoot, uint32 offerCount);
    error FlexMarketTooManyReservations(bytes32 sessionId, uint256 count, uint256 max);
    error FlexMarketRequestNotInSession(bytes32 sessionId, bytes32 requestId);
    error FlexMarketFspNotAuthorized(bytes32 sessionId, address fsp);
    error FlexMarketFspNotCommitted(bytes32 sessionId, address fsp);
    error FlexMarketZeroReservation(bytes32 requestId, address fsp);
    error FlexMarketBudgetExceeded(bytes32 requestId, uint256 budget, uint256 reserved);
    error FlexMarketPayoutCountMismatch(bytes32 sessionId, uint256 expected, uint256 actual);
    error FlexMarketPayoutExceedsReservation(bytes32 sessionId, uint256 index, uint256 reserved, uint256 payout);
    error FlexMarketNotParty(bytes32 sessionId, address caller);
    error FlexMarketNothingToWithdraw(address account);
    error FlexMarketNettingAlreadySettled(bytes32 periodId);
    error FlexMarketNettingLengthMismatch(uint256 members, uint256 amounts);
    error FlexMarketTooManyMembers(uint256 count, uint256 max);
    error FlexMarketNettingNotBalanced(bytes32 periodId, int256 sum, uint256 fee);
    error FlexMarketInsufficientCredit(address account, uint256 credit, uint256 debit);
    /// @notice The reservation list passed does not hash to the one posted by postClearing.
    error FlexMarketReservationsMismatch(bytes32 sessionId, bytes32 expected, bytes32 actual);
    /// @notice The payout list passed does not hash to the one attested (or resolved).
    error FlexMarketPayoutsMismatch(bytes32 sessionId, bytes32 expected, bytes32 actual);
    /// @notice The request id list must hold every request of the session in posting order.
    error FlexMarketRequestListMismatch(bytes32 sessionId, uint256 index, bytes32 requestId);
    error FlexMarketRequestCountMismatch(bytes32 sessionId, uint256 expected, uint256 actual);

    // ------------------------------------------------------------------ roles and constants

    function MARKET_OPERATOR_ROLE() external view returns (bytes32);
    function DSO_ROLE() external view returns (bytes32);
    function FSP_ROLE() external view returns (bytes32);
    function METER_ORACLE_ROLE() external view returns (bytes32);
    function ARBITER_ROLE() external view returns (bytes32);
    function CLEARING_HOUSE_ROLE() external view returns (bytes32);
    function MAX_REQUESTS_PER_SESSION() external view returns (uint256);
    function MAX_RESERVATIONS_PER_SESSION() external view returns (uint256);
    function MAX_NETTING_MEMBERS() external view returns (uint256);
    function MAX_CHALLENGE_WINDOW() external view returns (uint32);

    // ------------------------------------------------------------------ registry (admin)

    /// @notice Registers (or re-registers with new metadata) an account and grants it the given roles.
    function registerParticipant(address account, bytes32 metadataHash, bytes32[] calldata roles) external;
    /// @notice Revokes every market role of the account. Its credits stay withdrawable.
    function revokeParticipant(address account) external;
    function participantMetadata(address account) external view returns (bytes32);
    function isRegistered(address account) external view returns (bool);

    // ------------------------------------------------------------------ lifecycle

    function createSession(
        bytes32 sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint32 ispSeconds,
        uint32 challengeWindow
    ) external;

    function postRequest(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) external;

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
    ) external;

    /// @notice Cancels an own request before gate closure; the full budget goes to the DSO's credit.
    function cancelRequest(bytes32 sessionId, bytes32 requestId) external;

    function commitOffers(bytes32 sessionId, bytes32 offersRoot, uint32 offerCount) external;

    function closeSession(bytes32 sessionId) external;

    function postClearing(
        bytes32 sessionId,
        bytes32 inputHash,
        bytes32 resultRoot,
        Reservation[] calldata reservationList
    ) external;

    /// @notice payouts[i] belongs to reservations[i]; reservations must be postClearing's list.
    function attestDelivery(
        bytes32 sessionId,
        bytes32 deliveryRoot,
        Reservation[] calldata reservations,
        uint128[] calldata payouts
    ) external;

    /// @notice A DSO passes one of its live requests in the session; an FSP that committed offers
    /// to the session passes bytes32(0).
    function dispute(bytes32 sessionId, bytes32 reasonHash, bytes32 requestId) external;

    /// @notice Corrected payouts (each <= its reservation), then finalizes like finalize().
    function resolve(
        bytes32 sessionId,
        bytes32 correctedRoot,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservations,
        uint128[] calldata payouts
    ) external;

    /// @notice requestIds: every request of the session in posting order (cancelled ones too);
    /// reservations and payouts: the lists of postClearing and attestDelivery.
    function finalize(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservations,
        uint128[] calldata payouts
    ) external;

    function withdraw() external returns (uint256 amount);

    function withdrawTo(address to) external returns (uint256 amount);

    /// @notice Settles a netting period on the credit ledger: negative amounts are debited,
    /// positive ones credited, fee credited to feeRecipient. Reverts unless sum + fee == 0.
    function settleNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external;

    // ------------------------------------------------------------------ views

    function token() external view returns (address);
    function positions() external view returns (address);
    function session(bytes32 sessionId) external view returns (SessionInfo memory);
    function sessionCount() external view returns (uint256);
    function request(bytes32 requestId) external view returns (RequestInfo memory);
    /// @notice The FSP's current offer root (count and time are in OffersCommitted).
    function offerCommitment(bytes32 sessionId, address fsp) external view returns (bytes32 root);
    /// @notice Block of deployment: where event scans start.
    function deployBlock() external view returns (uint256);
    function credits(address account) external view returns (uint256);
    /// @notice Budgets held for sessions not yet final (cancelled requests excluded);
    /// = totalDeposited - totalCredited - totalWithdrawn.
    function totalEscrowed() external view returns (uint256);
    /// @notice Credits not yet withdrawn.
    function totalCredited() external view returns (uint256);
    /// @notice Every budget ever pulled into escrow.
    function totalDeposited() external view returns (uint256);
    /// @notice Everything paid out by withdraw/withdrawTo.
    function totalWithdrawn() external view returns (uint256);
    function nettingSettled(bytes32 periodId) external view returns (bool);
    /// @notice ERC-1155 balance backing FlexPositions: one aggregated id per kind and holder
    /// (REQUEST = open budgets, AWARD = open reservations, RECEIPT = payouts received).
    function positionBalance(address account, uint256 id) external view returns (uint256);
}
