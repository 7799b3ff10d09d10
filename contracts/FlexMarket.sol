// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FlexMarketStorage} from "./market/FlexMarketStorage.sol";
import {FlexMarketRegistry} from "./market/FlexMarketRegistry.sol";
import {FlexMarketEscrow} from "./market/FlexMarketEscrow.sol";
import {FlexMarketCommitments} from "./market/FlexMarketCommitments.sol";
import {FlexMarketDisputes} from "./market/FlexMarketDisputes.sol";
import {FlexMarketNetting} from "./market/FlexMarketNetting.sol";

/// @title FlexMarket
/// @notice Escrow and settlement ledger of the local flexibility market. DSO budgets are pulled
/// into escrow, FSPs commit to sealed offer sets (Merkle roots), the operator posts the clearing
/// result with per (request, FSP) reservations, the meter oracle attests payouts, a challenge
/// window allows disputes, and finalize moves every escrowed unit into the internal credit
/// ledger (payouts to FSPs, the rest back to the DSO). Payees pull with withdraw().
/// @dev The concrete market: each unit in contracts/market/ holds one concern, and
/// FlexMarketStorage holds all state, so the storage layout is independent of this order.
/// Loops are bounded by the MAX_* constants. Roles are OpenZeppelin AccessControl roles.
contract FlexMarket is
    FlexMarketRegistry,
    FlexMarketEscrow,
    FlexMarketCommitments,
    FlexMarketDisputes,
    FlexMarketNetting
{
    /// @param token_ The settlement token (no fee-on-transfer, no rebasing).
    /// @param admin Receives DEFAULT_ADMIN_ROLE: registers and revokes participants.
    constructor(IERC20 token_, address admin) FlexMarketStorage(token_, admin) {}
}
