// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {PositionBatch} from "../libraries/PositionBatch.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";

/// @title FlexMarketPositions
/// @notice The market's side of the ERC-1155 positions: FlexPositions reads balances from
/// positionBalance and only publishes the TransferSingle events this unit asks it for.
/// @dev Positions are aggregated per holder and kind, so they derive from the ledger and need
/// no storage of their own: REQUEST from Participant.requested, AWARD from .awarded, RECEIPT
/// from .received.
abstract contract FlexMarketPositions is IFlexMarket, FlexMarketStorage {
    uint8 internal constant KIND_REQUEST = 1;
    uint8 internal constant KIND_AWARD = 2;
    uint8 internal constant KIND_RECEIPT = 3;

    /// @inheritdoc IFlexMarket
    function positionBalance(address account, uint256 id) external view returns (uint256) {
        Participant storage p = _participants[account];
        if (id == _positionId(KIND_REQUEST)) return p.requested;
        if (id == _positionId(KIND_AWARD)) return p.awarded;
        if (id == _positionId(KIND_RECEIPT)) return p.received;
        return 0;
    }

    /// @dev Positions are aggregated per holder and kind: the id is just the kind.
    function _positionId(uint8 kind) internal pure returns (uint256) {
        return uint256(kind) << 248;
    }

    function _publish(bool isMint, PositionBatch.Batch memory b) internal {
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
        if (isMint) _positions().mint(holders, ids, values);
        else _positions().burn(holders, ids, values);
    }

    function _publishOne(bool isMint, address holder, uint8 kind, uint256 value) internal {
        PositionBatch.Batch memory b = PositionBatch.create(1);
        PositionBatch.add(b, holder, _positionId(kind), value);
        _publish(isMint, b);
    }
}
