// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {SessionId} from "../types/Ids.sol";
import {FlexMarketSessions} from "./FlexMarketSessions.sol";

/// @title FlexMarketCommitments
/// @notice Sealed offers: before gate closure an FSP commits, once, to the Merkle root of its
/// offer set and to the hashes of its prognosis and portfolio for a session; clearing
/// only awards FSPs that committed. The FSP sends the commitment itself, or signs it (EIP-712)
/// and the operator relays many in one transaction.
/// @dev Storage per (session, FSP) is one bit of a per-session bitmap indexed by the
/// participant index: a commitment costs a warm rewrite of a shared word instead of a new slot.
/// The values live in OffersCommitted (the auditor and the service read them from there).
abstract contract FlexMarketCommitments is FlexMarketSessions {
    /// @inheritdoc IFlexMarket
    uint256 public constant MAX_COMMITMENTS_PER_BATCH = 256;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant COMMITMENT_TYPEHASH = keccak256(
        "Commitment(bytes32 sessionId,bytes32 offersRoot,uint32 offerCount,bytes32 prognosisHash,bytes32 portfolioHash)"
    );
    bytes32 private constant NAME_HASH = keccak256("FlexMarket");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @inheritdoc IFlexMarket
    function commitOffers(
        bytes32 sessionId,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) external onlyRole(FSP_ROLE) {
        SessionId id = SessionId.wrap(sessionId);
        _requireBeforeGate(id);
        _commit(
            id, msg.sender, _participants[msg.sender].indexPlusOne, offersRoot, offerCount, prognosisHash, portfolioHash
        );
    }

    /// @inheritdoc IFlexMarket
    function commitOffersBySig(bytes32 sessionId, SignedCommitment[] calldata commitments)
        external
        onlyRole(MARKET_OPERATOR_ROLE)
    {
        uint256 n = commitments.length;
        if (n > MAX_COMMITMENTS_PER_BATCH) revert FlexMarketTooManyCommitments(n, MAX_COMMITMENTS_PER_BATCH);
        SessionId id = SessionId.wrap(sessionId);
        _requireBeforeGate(id);
        bytes32 domain = _domainSeparator();
        for (uint256 i = 0; i < n; ++i) {
            SignedCommitment calldata c = commitments[i];
            bytes32 digest = _digest(domain, sessionId, c.offersRoot, c.offerCount, c.prognosisHash, c.portfolioHash);
            // the third value only details err, which is checked below
            // slither-disable-next-line unused-return
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, c.r, c.vs);
            // FSP_ROLE is mirrored next to the index: one slot read per signer
            Participant storage p = _participants[signer];
            if (err != ECDSA.RecoverError.NoError || !p.fsp) {
                revert FlexMarketBadCommitmentSignature(sessionId, i, signer);
            }
            _commit(id, signer, p.indexPlusOne, c.offersRoot, c.offerCount, c.prognosisHash, c.portfolioHash);
        }
    }

    /// @inheritdoc IFlexMarket
    function commitmentDigest(
        bytes32 sessionId,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) external view returns (bytes32) {
        return _digest(_domainSeparator(), sessionId, offersRoot, offerCount, prognosisHash, portfolioHash);
    }

    /// @inheritdoc IFlexMarket
    function hasCommitted(bytes32 sessionId, address fsp) external view returns (bool) {
        return _hasCommitted(SessionId.wrap(sessionId), fsp);
    }

    function _requireBeforeGate(SessionId id) private view {
        Session storage s = _requireState(id, State.Open);
        if (block.timestamp >= s.gateClosure) {
            revert FlexMarketTooLate(SessionId.unwrap(id), s.gateClosure, uint64(block.timestamp));
        }
    }

    /// @dev Sets the FSP's bit (once) and publishes the values.
    function _commit(
        SessionId id,
        address fsp,
        uint256 indexPlusOne,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) private {
        if (offersRoot == bytes32(0) || offerCount == 0 || prognosisHash == bytes32(0) || portfolioHash == bytes32(0)) {
            revert FlexMarketInvalidCommitment(SessionId.unwrap(id), offersRoot, offerCount);
        }
        if (indexPlusOne == 0) revert FlexMarketNotRegistered(fsp);
        uint256 index = indexPlusOne - 1;
        mapping(uint256 => uint256) storage words = _committed[id];
        uint256 word = words[index >> 8];
        uint256 bit = uint256(1) << (index & 0xff);
        if (word & bit != 0) revert FlexMarketAlreadyCommitted(SessionId.unwrap(id), fsp);
        words[index >> 8] = word | bit;
        emit OffersCommitted(SessionId.unwrap(id), fsp, offersRoot, offerCount, prognosisHash, portfolioHash);
    }

    function _domainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _digest(
        bytes32 domain,
        bytes32 sessionId,
        bytes32 offersRoot,
        uint32 offerCount,
        bytes32 prognosisHash,
        bytes32 portfolioHash
    ) private pure returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(COMMITMENT_TYPEHASH, sessionId, offersRoot, offerCount, prognosisHash, portfolioHash)
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }
}
