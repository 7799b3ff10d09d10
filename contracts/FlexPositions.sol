// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IFlexPositions} from "./interfaces/IFlexPositions.sol";

/// @title FlexPositions
/// @notice Non-transferable ERC-1155 positions backed by the market's own ledger, one id per
/// kind (aggregated per holder): REQUEST (held by the DSO, value = budget, until cancel or
/// finalize), AWARD (held by the FSP, value = reservation, from clearing until finalize) and
/// RECEIPT (held by the FSP after finalize, value = payout).
/// @dev Balances are derived from FlexMarket storage instead of being copied here; this keeps
/// gas flat (one event per position instead of a new storage slot) and makes it impossible
/// for the positions to disagree with the escrow. Transfers revert: an obligation is bound to
/// the registered party that will be paid. No receiver hooks are called, so a contract
/// holder can never block clearing or finalization.
contract FlexPositions is IERC1155, IFlexPositions, ERC165, AccessControl {
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    uint8 public constant KIND_REQUEST = 1;
    uint8 public constant KIND_AWARD = 2;
    uint8 public constant KIND_RECEIPT = 3;

    /// @notice The only holder of MARKET_ROLE; nobody holds the admin role, so it cannot change.
    address public immutable market;

    constructor(address market_) {
        if (market_ == address(0)) revert FlexPositionsZeroMarket();
        market = market_;
        _grantRole(MARKET_ROLE, market_);
    }

    // ------------------------------------------------------------------ market-only publishing

    function mint(address[] calldata to, uint256[] calldata ids, uint256[] calldata values)
        external
        onlyRole(MARKET_ROLE)
    {
        _checkLengths(to.length, ids.length, values.length);
        for (uint256 i = 0; i < to.length; ++i) {
            emit TransferSingle(msg.sender, address(0), to[i], ids[i], values[i]);
        }
    }

    function burn(address[] calldata from, uint256[] calldata ids, uint256[] calldata values)
        external
        onlyRole(MARKET_ROLE)
    {
        _checkLengths(from.length, ids.length, values.length);
        for (uint256 i = 0; i < from.length; ++i) {
            emit TransferSingle(msg.sender, from[i], address(0), ids[i], values[i]);
        }
    }

    // ------------------------------------------------------------------ ids

    function positionId(uint8 kind, uint64 sessionIndex, uint32 itemIndex) public pure returns (uint256) {
        return (uint256(kind) << 248) | (uint256(sessionIndex) << 32) | uint256(itemIndex);
    }

    function decodePositionId(uint256 id) public pure returns (uint8 kind, uint64 sessionIndex, uint32 itemIndex) {
        kind = uint8(id >> 248);
        sessionIndex = uint64(id >> 32);
        itemIndex = uint32(id);
    }

    // ------------------------------------------------------------------ ERC-1155 reads

    // slither-disable-start calls-loop
    function balanceOf(address account, uint256 id) public view returns (uint256) {
        return IFlexMarket(market).positionBalance(account, id);
    }
    // slither-disable-end calls-loop

    function balanceOfBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        _checkLengths(accounts.length, ids.length, ids.length);
        balances = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            balances[i] = balanceOf(accounts[i], ids[i]);
        }
    }

    function uri(uint256) external pure returns (string memory) {
        return "";
    }

    // ------------------------------------------------------------------ transfers are disabled

    function setApprovalForAll(address, bool) external pure {
        revert FlexPositionsNonTransferable();
    }

    function isApprovedForAll(address, address) external pure returns (bool) {
        return false;
    }

    function safeTransferFrom(address, address, uint256, uint256, bytes calldata) external pure {
        revert FlexPositionsNonTransferable();
    }

    function safeBatchTransferFrom(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
    {
        revert FlexPositionsNonTransferable();
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC165, AccessControl, IERC165) returns (bool) {
        return interfaceId == type(IERC1155).interfaceId || interfaceId == 0x0e89341c // IERC1155MetadataURI
            || super.supportsInterface(interfaceId);
    }

    function _checkLengths(uint256 a, uint256 b, uint256 c) private pure {
        if (a != b || b != c) revert FlexPositionsLengthMismatch(a, b, c);
    }
}
