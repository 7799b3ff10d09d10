// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title PositionBatch
/// @notice Position changes collected in memory and published to FlexPositions in one call.
/// @dev Capacity is fixed at creation (the caller knows its bound); publishing shortens the
/// arrays to the used length in place, so nothing is copied. Callers write
/// `PositionBatch.add(b, ...)` rather than `b.add(...)`: the attached form makes the legacy
/// code generator reorder the stack, which costs a few gas per entry.
library PositionBatch {
    struct Batch {
        address[] holders;
        uint256[] ids;
        uint256[] values;
        uint256 len;
    }

    /// @notice An empty batch with room for `capacity` entries.
    function create(uint256 capacity) internal pure returns (Batch memory b) {
        b.holders = new address[](capacity);
        b.ids = new uint256[](capacity);
        b.values = new uint256[](capacity);
    }

    /// @notice Appends one entry; reverts (index out of bounds) past the capacity.
    function add(Batch memory b, address holder, uint256 id, uint256 value) internal pure {
        uint256 k = b.len;
        b.holders[k] = holder;
        b.ids[k] = id;
        b.values[k] = value;
        b.len = k + 1;
    }
}
