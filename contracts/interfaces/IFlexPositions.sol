// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IFlexPositions
/// @notice Non-transferable ERC-1155 view of the market's obligations. Balances are read from the
/// market ledger (no duplicated storage); mint/burn publish the standard ERC-1155 events so that
/// wallets and explorers show who holds which obligation.
/// Positions are aggregated per holder and kind, so the market publishes and answers only the
/// ids positionId(kind, 0, 0) = kind << 248: REQUEST = the DSO's escrowed budgets of live
/// requests, AWARD = the FSP's reservations of sessions not yet final, RECEIPT = payouts received.
/// Which session and request a change belongs to is in the market's own events.
interface IFlexPositions {
    error FlexPositionsNonTransferable();
    error FlexPositionsZeroMarket();
    error FlexPositionsLengthMismatch(uint256 accounts, uint256 ids, uint256 values);

    function MARKET_ROLE() external view returns (bytes32);
    function KIND_REQUEST() external view returns (uint8);
    function KIND_AWARD() external view returns (uint8);
    function KIND_RECEIPT() external view returns (uint8);
    function market() external view returns (address);

    /// @notice Publishes mints (market only). Each value must equal the derived balance change.
    function mint(address[] calldata to, uint256[] calldata ids, uint256[] calldata values) external;
    /// @notice Publishes burns (market only).
    function burn(address[] calldata from, uint256[] calldata ids, uint256[] calldata values) external;

    function positionId(uint8 kind, uint64 sessionIndex, uint32 itemIndex) external pure returns (uint256);
    function decodePositionId(uint256 id) external pure returns (uint8 kind, uint64 sessionIndex, uint32 itemIndex);
}
