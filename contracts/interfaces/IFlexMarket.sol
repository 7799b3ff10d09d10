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

    /// @notice An FSP's offer commitment, EIP-712 signed by the FSP and relayed by the operator
    /// (commitOffersBySig). The signature is EIP-2098 compact (r, vs).
    struct SignedCommitment {
        bytes32 offersRoot;
        bytes32 prognosisHash;
        bytes32 portfolioHash;
        uint32 offerCount;
        bytes32 r;
        bytes32 vs;
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
        bytes32 termsHash; // keccak256 of the canonical session terms (createSession; never changes)
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
        uint32 challengeWindow,
        bytes32 termsHash
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
    /// @dev prognosisHash and portfolioHash bind the FSP's baseline and meters
    /// (clearing/commitments.py); the time is the block's.
    event OffersCommitted(
        bytes32 indexed sessionId,
        address indexed fsp,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
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
    /// @notice The root over the CPO-signed readings digests (count and Merkle root of each
    /// station's readings per ISP) of a Cleared session, fixed before its attestation.
    event ReadingsDigestsCommitted(bytes32 indexed sessionId, bytes32 root);
    event SessionDisputed(bytes32 indexed sessionId, address indexed by, bytes32 reasonHash);
    event DisputeResolved(bytes32 indexed sessionId, bytes32 correctedRoot, uint256 totalPayout, uint128[] payouts);
    event SessionFinalized(bytes32 indexed sessionId, uint256 totalPaid, uint256 totalRefunded);
    /// @notice Internal ledger credit; ref is the session id, the request id (cancel) or the netting period id.
    event Credited(address indexed account, bytes32 indexed ref, uint256 amount);
    /// @notice Internal ledger debit by netting.
    event Debited(address indexed account, bytes32 indexed ref, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event NettingSettled(bytes32 indexed periodId, uint256 memberCount, uint256 fee, address indexed feeRecipient);
    /// @notice An FSP named (or, with named false, withdrew) accounts that settleNetting may move
    /// credit to in the sessions it committed offers to.
    event NettingPayeesNamed(address indexed by, address[] payees, bool named);
    /// @notice A netting could not debit all of the debtor's position from its credit: the rest
    /// is owed to a member (or the fee recipient) that netting could not pay in full.
    event ReceivableRecorded(
        address indexed debtor, address indexed creditor, bytes32 indexed periodId, uint256 amount
    );
    /// @notice The debtor's credit repaid (part of) a receivable: moved to the creditor's credit.
    event ReceivableRepaid(address indexed debtor, address indexed creditor, uint256 amount);
    /// @notice A step was not posted by its deadline; the session's escrow was released by
    /// refundStuck. SessionFinalized follows in the same transaction with the amounts.
    event SessionRefundedStuck(bytes32 indexed sessionId, State stuckIn, uint64 deadline, address indexed caller);

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
    /// @notice An FSP commits once per session: its offers, prognosis and portfolio are fixed.
    error FlexMarketAlreadyCommitted(bytes32 sessionId, address fsp);
    /// @notice A relayed commitment's signature is malformed or its signer is not an FSP.
    error FlexMarketBadCommitmentSignature(bytes32 sessionId, uint256 index, address signer);
    error FlexMarketTooManyCommitments(uint256 count, uint256 max);
    /// @notice A session's readings digests are committed once.
    error FlexMarketReadingsAlreadyCommitted(bytes32 sessionId);
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
    /// @notice settleNetting's members must be strictly ascending addresses (no duplicates).
    error FlexMarketNettingMembersNotSorted(uint256 index, address member);
    /// @notice A netting member (or the fee recipient) is neither an FSP that committed offers
    /// to the session nor an account named with nameNettingPayees by such an FSP that this
    /// netting debits.
    error FlexMarketNotNettingParty(bytes32 periodId, address account);
    /// @notice Only an FSP that committed offers to the session is debited by its netting; a
    /// named payee is only ever credited.
    error FlexMarketNettingDebitNotFsp(bytes32 periodId, address account);
    /// @notice The netting fee exceeds nettingFeeCapPpm of the session's paid amount.
    error FlexMarketFeeAboveCap(bytes32 periodId, uint256 fee, uint256 cap);
    /// @notice The deployment's netting fee cap is above MAX_NETTING_FEE_PPM.
    error FlexMarketInvalidFeeCap(uint256 capPpm, uint256 max);
    /// @notice No step of the session is waiting for a deadline (None, Verified or Final).
    error FlexMarketNotStuck(bytes32 sessionId, State state);
    /// @notice withdrawBySignature: the signature is not the account's over Withdrawal(account,
    /// to, its current nonce, deadline) (signer: who it recovers to, zero if none).
    error FlexMarketBadWithdrawalSignature(address account, address signer);
    /// @notice withdrawBySignature: the signed deadline has passed.
    error FlexMarketSignatureExpired(uint256 deadline, uint256 now_);

    // ------------------------------------------------------------------ roles and constants

    /// @notice Role that creates, closes and clears sessions.
    /// @return The role id, keccak256("MARKET_OPERATOR_ROLE").
    function MARKET_OPERATOR_ROLE() external view returns (bytes32);
    /// @notice Role that posts (and escrows) flexibility requests.
    /// @return The role id, keccak256("DSO_ROLE").
    function DSO_ROLE() external view returns (bytes32);
    /// @notice Role that commits offers and can be awarded reservations.
    /// @return The role id, keccak256("FSP_ROLE").
    function FSP_ROLE() external view returns (bytes32);
    /// @notice Role that attests metered delivery (the payouts).
    /// @return The role id, keccak256("METER_ORACLE_ROLE").
    function METER_ORACLE_ROLE() external view returns (bytes32);
    /// @notice Role that resolves disputed sessions.
    /// @return The role id, keccak256("ARBITER_ROLE").
    function ARBITER_ROLE() external view returns (bytes32);
    /// @notice Role that settles netting periods.
    /// @return The role id, keccak256("CLEARING_HOUSE_ROLE").
    function CLEARING_HOUSE_ROLE() external view returns (bytes32);
    /// @notice Bound on requests per session (cancelled ones count).
    /// @return 64.
    function MAX_REQUESTS_PER_SESSION() external view returns (uint256);
    /// @notice Bound on the reservation list of one clearing result.
    /// @return 512.
    function MAX_RESERVATIONS_PER_SESSION() external view returns (uint256);
    /// @notice Bound on the members of one netting period.
    /// @return 256.
    function MAX_NETTING_MEMBERS() external view returns (uint256);
    /// @notice Longest challenge window a session may have.
    /// @return 30 days, in seconds.
    function MAX_CHALLENGE_WINDOW() external view returns (uint32);
    /// @notice Highest netting fee cap a deployment may set, in ppm of a session's paid amount.
    /// @return 100 000 (10 %).
    function MAX_NETTING_FEE_PPM() external view returns (uint256);
    /// @notice Grace after a step's deadline before refundStuck may release the escrow.
    /// @return 7 days, in seconds.
    function LIVENESS_GRACE() external view returns (uint64);

    // ------------------------------------------------------------------ registry (admin)

    /// @notice Registers (or re-registers with new metadata) an account and grants it the given
    /// roles. Only DEFAULT_ADMIN_ROLE.
    /// @param account The participant; not the zero address.
    /// @param metadataHash Hash of the participant's off-chain metadata (replaces the previous one).
    /// @param roles At most 6, each one of the six market roles.
    function registerParticipant(address account, bytes32 metadataHash, bytes32[] calldata roles) external;
    /// @notice Revokes every market role of the account. Its credits stay withdrawable. Only
    /// DEFAULT_ADMIN_ROLE.
    /// @param account A registered participant.
    function revokeParticipant(address account) external;
    /// @notice The metadata hash of the latest registration.
    /// @param account Any account.
    /// @return Its metadata hash, or zero if it was never registered.
    function participantMetadata(address account) external view returns (bytes32);
    /// @notice Whether the account was ever registered (revocation does not clear it).
    /// @param account Any account.
    /// @return True once registered.
    function isRegistered(address account) external view returns (bool);

    // ------------------------------------------------------------------ lifecycle

    /// @notice Opens a session for requests and offer commitments until gate closure. Only
    /// MARKET_OPERATOR_ROLE.
    /// @param sessionId New, unused session id.
    /// @param gateClosure End of requests and commitments; in the future.
    /// @param deliveryStart Start of delivery; not before gate closure.
    /// @param deliveryEnd End of delivery; after deliveryStart, below 2^40.
    /// @param ispSeconds Imbalance settlement period; divides the delivery window.
    /// @param challengeWindow Seconds after attestation in which a party may dispute; 1 to 30 days.
    /// @param termsHash keccak256 of the canonical JSON of the session terms (pricing, solver
    /// bounds, settlement rules, grid, schedule); stored once, no setter: fixed before any offer.
    function createSession(
        bytes32 sessionId,
        uint64 gateClosure,
        uint64 deliveryStart,
        uint64 deliveryEnd,
        uint32 ispSeconds,
        uint32 challengeWindow,
        bytes32 termsHash
    ) external;

    /// @notice Posts a flexibility request and pulls its budget into escrow (needs an allowance).
    /// Only DSO_ROLE, before gate closure of an Open session.
    /// @param sessionId The session.
    /// @param requestId New, unused request id.
    /// @param congestionPoint The grid location; only published in RequestPosted.
    /// @param requestHash Hash of the full request (binds the congestion point); stored.
    /// @param budget Most the DSO will pay, in token minor units; 1 to 2^64 - 1.
    function postRequest(
        bytes32 sessionId,
        bytes32 requestId,
        bytes32 congestionPoint,
        bytes32 requestHash,
        uint256 budget
    ) external;

    /// @notice postRequest with an ERC-2612 permit for the budget, in one transaction.
    /// @param sessionId The session.
    /// @param requestId New, unused request id.
    /// @param congestionPoint The grid location; only published in RequestPosted.
    /// @param requestHash Hash of the full request (binds the congestion point); stored.
    /// @param budget Most the DSO will pay, in token minor units; also the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v The permit signature's v.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
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
    /// @param sessionId The request's session (checked against the request).
    /// @param requestId A live request posted by the caller.
    function cancelRequest(bytes32 sessionId, bytes32 requestId) external;

    /// @notice Commits the caller's sealed offer set, prognosis and portfolio for a session, once.
    /// Only FSP_ROLE (registered), before gate closure. Nothing is stored but one bit per
    /// (session, FSP); the values are in OffersCommitted.
    /// @param sessionId An Open session.
    /// @param offersRoot Merkle root of the FSP's signed offers; non-zero.
    /// @param offerCount Number of offers under the root; non-zero, only published in OffersCommitted.
    /// @param prognosisHash Hash of the FSP's prognoses (baselines) for the session; non-zero.
    /// @param portfolioHash Hash of the FSP's meters per congestion point; non-zero.
    function commitOffers(
        bytes32 sessionId,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) external;

    /// @notice Relays FSPs' EIP-712 signed commitments (commitmentDigest) in one transaction,
    /// with the same checks as commitOffers for each signer. Only MARKET_OPERATOR_ROLE, before
    /// gate closure; the operator can leave a commitment out but not change one (an FSP can
    /// always commit itself with commitOffers).
    /// @param sessionId An Open session.
    /// @param commitments At most MAX_COMMITMENTS_PER_BATCH signed commitments.
    function commitOffersBySig(bytes32 sessionId, SignedCommitment[] calldata commitments) external;

    /// @notice Bound of commitOffersBySig's list.
    function MAX_COMMITMENTS_PER_BATCH() external view returns (uint256);

    /// @notice The EIP-712 digest an FSP signs for commitOffersBySig (domain "FlexMarket" "1",
    /// this chain and contract; struct Commitment(bytes32 sessionId,bytes32 offersRoot,
    /// uint32 offerCount,bytes32 prognosisHash,bytes32 portfolioHash)).
    function commitmentDigest(
        bytes32 sessionId,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) external view returns (bytes32);

    /// @notice Closes an Open session at or after gate closure. Only MARKET_OPERATOR_ROLE.
    /// @param sessionId The session.
    function closeSession(bytes32 sessionId) external;

    /// @notice Posts the clearing result of a Closed session: the reservations of each FSP
    /// against each request. Only MARKET_OPERATOR_ROLE.
    /// @param sessionId The session.
    /// @param inputHash Hash of the clearing input (requests and offers); only in ClearingPosted.
    /// @param resultRoot Merkle root of the clearing result bundle; only in ClearingPosted.
    /// @param reservationList At most 512 rows: live request of the session, FSP that holds
    /// FSP_ROLE and committed, non-zero amount; per request, the sum stays within its budget.
    function postClearing(
        bytes32 sessionId,
        bytes32 inputHash,
        bytes32 resultRoot,
        Reservation[] calldata reservationList
    ) external;

    /// @notice Attests metered delivery of a Cleared session from delivery end on and starts the
    /// challenge window. Only METER_ORACLE_ROLE.
    /// @param sessionId The session.
    /// @param deliveryRoot Merkle root of the delivery verification bundle; only in DeliveryAttested.
    /// @param reservationList Exactly postClearing's list.
    /// @param payouts payouts[i] belongs to reservationList[i] and is at most its amount.
    function attestDelivery(
        bytes32 sessionId,
        bytes32 deliveryRoot,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external;

    /// @notice Commits the root over the session's CPO-signed readings digests, once, while the
    /// session is Cleared (so before attestation). Only METER_ORACLE_ROLE.
    /// @param sessionId The session.
    /// @param root The readings bundle's root; only in ReadingsDigestsCommitted.
    function commitReadingsDigests(bytes32 sessionId, bytes32 root) external;

    /// @notice Disputes a Verified session inside its challenge window; the arbiter then resolves it.
    /// @param sessionId The session.
    /// @param reasonHash Hash of the published dispute evidence.
    /// @param requestId A DSO passes one of its live requests in the session; an FSP that
    /// committed offers to the session passes bytes32(0).
    function dispute(bytes32 sessionId, bytes32 reasonHash, bytes32 requestId) external;

    /// @notice Corrected payouts (each <= its reservation), then finalizes like finalize(). Only
    /// ARBITER_ROLE, on a Disputed session.
    /// @param sessionId The session.
    /// @param correctedRoot Merkle root of the corrected delivery bundle; only in DisputeResolved.
    /// @param requestIds Every request of the session in posting order (cancelled ones too).
    /// @param reservationList Exactly postClearing's list.
    /// @param payouts The corrected payouts; payouts[i] belongs to reservationList[i].
    function resolve(
        bytes32 sessionId,
        bytes32 correctedRoot,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external;

    /// @notice Finalizes a Verified session after its challenge window: credits each payout to
    /// its FSP and the rest of each live budget to its DSO. Anyone may call it.
    /// @param sessionId The session.
    /// @param requestIds Every request of the session in posting order (cancelled ones too).
    /// @param reservationList Exactly postClearing's list.
    /// @param payouts Exactly attestDelivery's list.
    function finalize(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external;

    /// @notice Pays the caller's whole credit to the caller.
    /// @return amount The amount transferred, in token minor units (reverts if zero).
    function withdraw() external returns (uint256 amount);

    /// @notice Pays the caller's whole credit to another address.
    /// @param to The recipient; not the zero address.
    /// @return amount The amount transferred, in token minor units (reverts if zero).
    function withdrawTo(address to) external returns (uint256 amount);

    /// @notice Pays `account`'s whole credit (after repaying its receivables) to `to`, on the
    /// account's EIP-712 signature over Withdrawal(address account,address to,uint256 nonce,
    /// uint256 deadline) in the FlexMarket domain; anyone may relay it, so an account without
    /// gas (an EV user's claim address) can withdraw. Each signature is good once (nonce).
    /// @param account Whose credit is paid out (the signer).
    /// @param to The recipient; not the zero address.
    /// @param deadline Last block timestamp at which the signature is good.
    /// @param r EIP-2098 compact signature, r.
    /// @param vs EIP-2098 compact signature, s with the y parity in the top bit.
    /// @dev Returns nothing (bytecode: FlexMarket is at EIP-170's limit); Withdrawn carries the
    /// amount, and it reverts when there is nothing to pay.
    function withdrawBySignature(address account, address to, uint256 deadline, bytes32 r, bytes32 vs) external;

    /// @notice The nonce the account's next Withdrawal signature must carry.
    /// @param account Any account.
    /// @return The number of signed withdrawals the account has made.
    function withdrawalNonce(address account) external view returns (uint256);

    /// @notice Settles a netting period on the credit ledger: negative amounts are debited,
    /// positive ones credited, fee credited to feeRecipient. Reverts unless sum + fee == 0.
    /// A debit larger than the member's credit takes the whole credit; the rest becomes a
    /// receivable (ReceivableRecorded) owed to the last-paid members in order, whose credit it
    /// reduces, and is repaid from the debtor's later credit (see repayReceivables).
    /// Only CLEARING_HOUSE_ROLE, once per period. The period is one Final session; every
    /// member is a party of it (an FSP that committed offers to it, or an account that such an
    /// FSP debited by this netting named with nameNettingPayees), only those FSPs are debited,
    /// and the fee, at most nettingFeeCapPpm of the session's paid amount, goes to such a party.
    /// @param periodId The session id of a Final session.
    /// @param members At most 256 session parties, strictly ascending, none zero.
    /// @param netAmounts netAmounts[i] is members[i]'s net position, |amount| < 2^96; negative
    /// only for an FSP that committed offers to the session.
    /// @param fee Clearing-house fee, <= paid * nettingFeeCapPpm / 1e6.
    /// @param feeRecipient Receives the fee; a party of the session when the fee is not zero.
    function settleNetting(
        bytes32 periodId,
        address[] calldata members,
        int256[] calldata netAmounts,
        uint256 fee,
        address feeRecipient
    ) external;

    /// @notice Names the accounts that settleNetting may credit or debit alongside the caller
    /// (e.g. the EV users, fleet operators, CPOs and platform of its revenue-sharing contracts).
    /// A naming counts in a session's netting only when the caller committed offers to that
    /// session and the netting debits it: naming is the paying FSP's own consent, and neither
    /// the operator nor the clearing house can add anyone. Anyone may call it.
    /// @param payees At most 256 accounts, none zero.
    /// @param named True to name them, false to withdraw the naming.
    function nameNettingPayees(address[] calldata payees, bool named) external;

    /// @notice Moves the debtor's credit to its creditors until its receivables are repaid or its
    /// credit is spent. Anyone may call it: it only pays what a netting recorded, to whom it
    /// recorded it. withdraw and settleNetting run it too, so a debtor cannot withdraw what it owes.
    /// @param debtor Any account.
    /// @return repaid The units moved.
    function repayReceivables(address debtor) external returns (uint256 repaid);
    /// @notice What the debtor still owes the creditor from earlier nettings.
    /// @param debtor Any account.
    /// @param creditor Any account.
    /// @return The units owed.
    function receivable(address debtor, address creditor) external view returns (uint256);
    /// @notice The creditors the debtor still owes (order changes as receivables are repaid).
    /// @param debtor Any account.
    /// @return The creditors, at most MAX_NETTING_MEMBERS.
    function receivableCreditors(address debtor) external view returns (address[] memory);

    /// @notice Releases the escrow of a session whose next step was not posted by its deadline
    /// (see stuckDeadline). Open, Closed or Cleared: every live budget is credited back to its
    /// DSO and the awards are burned. Disputed (the arbiter did not resolve): the attested
    /// payouts stand and the rest is refunded, as finalize would. Anyone may call it.
    /// @param sessionId The session.
    /// @param requestIds Every request of the session in posting order (cancelled ones too).
    /// @param reservationList postClearing's list (empty if the session was not cleared).
    /// @param payouts attestDelivery's list when Disputed, else empty.
    function refundStuck(
        bytes32 sessionId,
        bytes32[] calldata requestIds,
        Reservation[] calldata reservationList,
        uint128[] calldata payouts
    ) external;

    // ------------------------------------------------------------------ views

    /// @notice When refundStuck becomes possible: the pending step's deadline plus LIVENESS_GRACE.
    /// Clearing is due by delivery start (Open, Closed), attestation by delivery end (Cleared),
    /// the arbiter's resolution by the end of the challenge window (Disputed).
    /// @param sessionId Any id.
    /// @return The unix time, or 0 when no step is pending (None, Verified, Final).
    function stuckDeadline(bytes32 sessionId) external view returns (uint64);
    /// @notice Whether the FSP named the payee with nameNettingPayees (and did not withdraw it).
    /// @param fsp The naming account.
    /// @param payee Any account.
    /// @return True while named.
    function isNettingPayee(address fsp, address payee) external view returns (bool);
    /// @notice The netting fee cap fixed at deployment, in ppm of a session's paid amount.
    /// @return The cap (at most MAX_NETTING_FEE_PPM).
    function nettingFeeCapPpm() external view returns (uint256);

    /// @notice The settlement token (an ERC-20 with ERC-2612 permit).
    /// @return Its address.
    function token() external view returns (address);
    /// @notice The ERC-1155 positions view deployed by this market.
    /// @return Its address.
    function positions() external view returns (address);
    /// @notice A session as stored (roots are in the events).
    /// @param sessionId Any id.
    /// @return The session; state None if it does not exist.
    function session(bytes32 sessionId) external view returns (SessionInfo memory);
    /// @notice Sessions ever created; the next session's index.
    /// @return The count.
    function sessionCount() external view returns (uint256);
    /// @notice A request as stored (the session id and congestion point are in RequestPosted).
    /// @param requestId Any id.
    /// @return The request; all zero if it does not exist.
    function request(bytes32 requestId) external view returns (RequestInfo memory);
    /// @notice Whether the FSP committed to the session (root, count and data are in OffersCommitted).
    /// @param sessionId The session.
    /// @param fsp The FSP.
    function hasCommitted(bytes32 sessionId, address fsp) external view returns (bool);
    /// @notice Block of deployment: where event scans start.
    /// @return The block number.
    function deployBlock() external view returns (uint256);
    /// @notice Credit the account can withdraw.
    /// @param account Any account.
    /// @return The credit, in token minor units.
    function credits(address account) external view returns (uint256);
    /// @notice Budgets held for sessions not yet final (cancelled requests excluded);
    /// = totalDeposited - totalCredited - totalWithdrawn.
    /// @return The amount, in token minor units.
    function totalEscrowed() external view returns (uint256);
    /// @notice Credits not yet withdrawn.
    /// @return The amount, in token minor units.
    function totalCredited() external view returns (uint256);
    /// @notice Every budget ever pulled into escrow.
    /// @return The amount, in token minor units.
    function totalDeposited() external view returns (uint256);
    /// @notice Everything paid out by withdraw/withdrawTo.
    /// @return The amount, in token minor units.
    function totalWithdrawn() external view returns (uint256);
    /// @notice Whether a netting period has been settled.
    /// @param periodId The period.
    /// @return True once settleNetting ran for it.
    function nettingSettled(bytes32 periodId) external view returns (bool);
    /// @notice ERC-1155 balance backing FlexPositions: one aggregated id per kind and holder
    /// (REQUEST = open budgets, AWARD = open reservations, RECEIPT = payouts received).
    /// @param account The holder.
    /// @param id kind << 248 with kind 1 (REQUEST), 2 (AWARD) or 3 (RECEIPT).
    /// @return The balance, in token minor units; 0 for any other id.
    function positionBalance(address account, uint256 id) external view returns (uint256);
}
