// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {FlexPositions} from "../FlexPositions.sol";
import {PeriodId, RequestId, SessionId} from "../types/Ids.sol";
import {Receivables} from "../types/Receivables.sol";

/// @title FlexMarketStorage
/// @notice The market's storage and roles, shared by every unit of FlexMarket.
/// @dev Every state variable of the market is declared here, in one place and in this order, so
/// the storage layout does not depend on how the units are inherited (contracts/README.md
/// lists it). Lists (reservations, payouts, the session's request ids) are stored as hashes
/// and passed back as calldata, which is checked against them; the full lists are in events.
/// The immutables (token, positions, deploy block) belong to the concrete FlexMarket, whose
/// constructor sets them; the units read them through _token() and _positions().
abstract contract FlexMarketStorage is IFlexMarket, AccessControl {
    /// @inheritdoc IFlexMarket
    bytes32 public constant MARKET_OPERATOR_ROLE = keccak256("MARKET_OPERATOR_ROLE");
    /// @inheritdoc IFlexMarket
    bytes32 public constant DSO_ROLE = keccak256("DSO_ROLE");
    /// @inheritdoc IFlexMarket
    bytes32 public constant FSP_ROLE = keccak256("FSP_ROLE");
    /// @inheritdoc IFlexMarket
    bytes32 public constant METER_ORACLE_ROLE = keccak256("METER_ORACLE_ROLE");
    /// @inheritdoc IFlexMarket
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @inheritdoc IFlexMarket
    bytes32 public constant CLEARING_HOUSE_ROLE = keccak256("CLEARING_HOUSE_ROLE");
    /// @notice Charge point operator: registers its stations' meter keys (FlexMarketStations).
    bytes32 public constant CPO_ROLE = keccak256("CPO_ROLE");

    /// @dev Bit 7 of Request.indexAndCancelled.
    uint8 internal constant CANCELLED = 0x80;

    /// @dev slot 0 (schedule, 256 bits) and slot 1 (counters, totals and a flag, 248 bits) are written
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
        bool readingsCommitted; // commitReadingsDigests ran (slot 1, offset 30)
        bytes32 reservationsHash;
        bytes32 payoutsHash;
        address disputedBy;
        bytes32 disputeReasonHash;
        bytes32 termsHash; // keccak256 of the canonical session terms, set once by createSession
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

    /// @dev Slot 1 holds everything an FSP's session touches (credit, AWARD, RECEIPT, its
    /// commitment bit index, whether it holds FSP_ROLE) next to `indexPlusOne`, which
    /// registration sets (>= 1) and nothing clears: committing, clearing, finalize and withdraw
    /// read one slot and rewrite a non-zero one (2 900 gas warm), never create one (22 100 gas).
    /// Slot 2 holds the DSO's REQUEST position next to registeredAt, for the same reason.
    /// Bounds: credit < 2^96 holds because credits are backed by tokens the market holds
    /// (token supplies above 2^96 minor units are not supported); awarded < 2^64 (overflow
    /// reverts postClearing); received saturates at 2^64 - 1 so it can never block finalize;
    /// at most 2^24 - 1 participants.
    struct Participant {
        bytes32 metadataHash;
        uint96 credit;
        uint64 awarded; // AWARD position: reservations of sessions not yet final
        uint64 received; // RECEIPT position: payouts received from finalized sessions
        uint24 indexPlusOne; // participant index + 1: non-zero once registered
        bool fsp; // mirrors FSP_ROLE (_grantRole / _revokeRole), so clearing reads no role slot
        uint64 registeredAt;
        uint128 requested; // REQUEST position: budgets of live requests of sessions not yet final
    }

    mapping(SessionId sessionId => Session) internal _sessions;
    /// @dev One bit per (session, participant index): committed. Root, count, data hash and time
    /// are in the OffersCommitted event.
    mapping(SessionId sessionId => mapping(uint256 word => uint256 bits)) internal _committed;
    mapping(RequestId requestId => Request) internal _requests;
    mapping(address account => Participant) internal _participants;
    mapping(PeriodId periodId => bool) internal _nettingSettled;
    /// @dev Sessions ever created; a session's index is its sequence number. Requests store the
    /// 24-bit index of their session, and callers name the session id, which is checked.
    uint256 internal _sessionCount;
    address[] internal _participantList;
    /// @dev Three stored totals, one derived: escrowed = deposited - credited - withdrawn.
    /// A deposit writes one slot; a credit or a withdrawal writes the other one.
    uint256 internal _totalDeposited;
    uint128 internal _totalCredited;
    uint128 internal _totalWithdrawn;
    /// @dev Appended (issue 16): the accounts each FSP named as payees of its netting.
    mapping(address fsp => mapping(address payee => bool)) internal _nettingPayees;

    /// @dev A station's registry entry (FlexMarketStations): who registered it, the key its
    /// readings are signed with, and the FSP it is granted to.
    struct Station {
        address cpo;
        address meterKey;
        address fsp;
    }

    /// @dev Appended (issue 16, item 3): keccak256(station id) -> its CPO-registered entry.
    mapping(bytes32 stationHash => Station) internal _stations;
    /// @dev Appended (issue 19): what a netting could not debit from a member's credit, owed to
    /// the members that netting could not pay (NettingLedger moves it).
    Receivables internal _receivables;
    /// @dev Appended (issue 19): each account's next Withdrawal signature nonce
    /// (withdrawBySignature, SignedWithdrawals).
    mapping(address account => uint256 nonce) internal _withdrawalNonces;

    /// @dev The settlement token, an immutable of the concrete contract.
    function _token() internal view virtual returns (IERC20);

    /// @dev The FlexPositions view, deployed by the concrete contract's constructor.
    function _positions() internal view virtual returns (FlexPositions);

    /// @dev Whether `fsp` committed to the session (a registered account's bit).
    function _hasCommitted(SessionId sessionId, address fsp) internal view returns (bool) {
        uint256 indexPlusOne = _participants[fsp].indexPlusOne;
        if (indexPlusOne == 0) return false;
        return _isCommitted(sessionId, indexPlusOne - 1);
    }

    function _isCommitted(SessionId sessionId, uint256 index) internal view returns (bool) {
        return _committed[sessionId][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    /// @dev Keeps Participant.fsp equal to FSP_ROLE, however the role is granted.
    function _grantRole(bytes32 role, address account) internal virtual override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == FSP_ROLE) _participants[account].fsp = true;
    }

    /// @dev Keeps Participant.fsp equal to FSP_ROLE, however the role is revoked or renounced.
    function _revokeRole(bytes32 role, address account) internal virtual override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == FSP_ROLE) _participants[account].fsp = false;
    }

    /// @dev The netting fee cap in ppm, an immutable of the concrete contract.
    function _nettingFeeCapPpm() internal view virtual returns (uint256);
}
