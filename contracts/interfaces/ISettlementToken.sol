// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title ISettlementToken
/// @notice fEUR: 6-decimal settlement token with EIP-2612 permit and role-restricted minting.
interface ISettlementToken is IERC20, IERC20Permit {
    function MINTER_ROLE() external view returns (bytes32);
    function decimals() external view returns (uint8);
    function mint(address to, uint256 amount) external;
}
