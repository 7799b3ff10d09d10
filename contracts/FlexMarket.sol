// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {FlexPositions} from "./FlexPositions.sol";
import {RequestId, SessionId} from "./types/Ids.sol";
import {FlexMarketRegistry} from "./market/FlexMarketRegistry.sol";
import {FlexMarketEscrow} from "./market/FlexMarketEscrow.sol";
import {FlexMarketCommitments} from "./market/FlexMarketCommitments.sol";
import {FlexMarketDisputes} from "./market/FlexMarketDisputes.sol";
import {FlexMarketNetting} from "./market/FlexMarketNetting.sol";
import {FlexMarketLiveness} from "./market/FlexMarketLiveness.sol";
import {FlexMarketStations} from "./market/FlexMarketStations.sol";

/// @title FlexMarket
/// @notice Escrow and settlement ledger of the local flexibility market. DSO budgets are pulled
/// into escrow, FSPs commit to sealed offer sets (Merkle roots), the operator posts the clearing
/// result with per (request, FSP) reservations, the meter oracle attests payouts, a challenge
/// window allows disputes, and finalize moves every escrowed unit into the internal credit
/// ledger (payouts to FSPs, the rest back to the DSO). Payees pull with withdraw().
/// @dev The concrete market: each unit in contracts/market/ holds one concern and
/// FlexMarketStorage holds all storage, so the layout is independent of this order. The
/// immutables, the constructor and postRequestWithPermit live here. That keeps the bytecode
/// (and so every gas figure) identical to the single-contract market: forwarding constructor
/// arguments to a base costs deployment gas, and a permit call through the _token() hook
/// costs three stack swaps. Loops are bounded by the MAX_* constants. Roles are OpenZeppelin
/// AccessControl roles.
contract FlexMarket is
    IFlexMarket,
    FlexMarketRegistry,
    FlexMarketEscrow,
    FlexMarketCommitments,
    FlexMarketDisputes,
    FlexMarketLiveness,
    FlexMarketNetting,
    FlexMarketStations
{
    IERC20 private immutable _settlementToken;
    FlexPositions private immutable _flexPositions;
    uint256 private immutable _deployBlock;
    uint256 private immutable _feeCapPpm;

    /// @param token_ The settlement token (no fee-on-transfer, no rebasing).
    /// @param admin Receives DEFAULT_ADMIN_ROLE: registers and revokes participants.
    /// @param nettingFeeCapPpm_ Most a netting fee may take, in ppm of the session's paid amount;
    /// at most MAX_NETTING_FEE_PPM. Fixed for the deployment, so it is committed before any session.
    /// @dev Deploys the FlexPositions view of this market.
    constructor(IERC20 token_, address admin, uint256 nettingFeeCapPpm_) {
        if (address(token_) == address(0) || admin == address(0)) revert FlexMarketZeroAddress();
        if (nettingFeeCapPpm_ > MAX_NETTING_FEE_PPM) {
            revert FlexMarketInvalidFeeCap(nettingFeeCapPpm_, MAX_NETTING_FEE_PPM);
        }
        _feeCapPpm = nettingFeeCapPpm_;
        _settlementToken = token_;
        _flexPositions = new FlexPositions(address(this));
        _deployBlock = block.number;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IFlexMarket
    /// @dev The permit may have been front-run (its nonce used by someone relaying the same
    /// signature); the allowance then already exists, so a failing permit is ignored and the
    /// transferFrom decides.
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
    ) external nonReentrant onlyRole(DSO_ROLE) {
        try IERC20Permit(address(_settlementToken)).permit(msg.sender, address(this), budget, deadline, v, r, s) {}
            catch {}
        _postRequest(SessionId.wrap(sessionId), RequestId.wrap(requestId), congestionPoint, requestHash, budget);
    }

    /// @inheritdoc IFlexMarket
    function token() external view returns (address) {
        return address(_settlementToken);
    }

    /// @inheritdoc IFlexMarket
    function positions() external view returns (address) {
        return address(_flexPositions);
    }

    /// @inheritdoc IFlexMarket
    function deployBlock() external view returns (uint256) {
        return _deployBlock;
    }

    /// @dev Inlined by the optimizer: the units read the immutable as if it were their own.
    function _token() internal view override returns (IERC20) {
        return _settlementToken;
    }

    function _positions() internal view override returns (FlexPositions) {
        return _flexPositions;
    }

    function _nettingFeeCapPpm() internal view override returns (uint256) {
        return _feeCapPpm;
    }
}
