// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";

/// @title FlexMarketRegistry
/// @notice Participant registry: the admin registers accounts with metadata and market roles,
/// and revokes them.
/// @dev Roles are OpenZeppelin AccessControl roles; only the seven market roles can be granted
/// here. A revoked participant keeps its credits and its non-zero ledger slot.
abstract contract FlexMarketRegistry is FlexMarketStorage {
    uint256 private constant MAX_ROLES = 7;

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
            if (index >= type(uint24).max) revert FlexMarketTooManyParticipants(type(uint24).max);
            p.indexPlusOne = uint24(index + 1);
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
        _revokeRole(CPO_ROLE, account);
        emit ParticipantRevoked(account);
    }

    /// @inheritdoc IFlexMarket
    function participantMetadata(address account) external view returns (bytes32) {
        return _participants[account].metadataHash;
    }

    /// @inheritdoc IFlexMarket
    function isRegistered(address account) external view returns (bool) {
        return _participants[account].registeredAt != 0;
    }

    function _isMarketRole(bytes32 role) private pure returns (bool) {
        return role == MARKET_OPERATOR_ROLE || role == DSO_ROLE || role == FSP_ROLE || role == METER_ORACLE_ROLE
            || role == ARBITER_ROLE || role == CLEARING_HOUSE_ROLE || role == CPO_ROLE;
    }
}
