// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title NaiveMarket
/// @notice Benchmark baseline only (never deployed in production): the straightforward design
/// that FlexMarket is measured against. Every offer is stored on-chain by its FSP and every
/// accepted order is paid by its own ERC-20 push, so its gas grows with the number of orders.
contract NaiveMarket {
    using SafeERC20 for IERC20;

    /// @notice Upper bound on orders paid in one call, so the loop always fits in a block.
    uint256 public constant MAX_BATCH = 256;

    struct Request {
        address dso;
        uint128 budget;
        uint128 spent;
    }

    struct Offer {
        address fsp;
        bytes32 requestId;
        int64 powerW;
        uint64 pricePerMwh;
        uint128 maxPayment;
        bool paid;
    }

    error NaiveMarketRequestExists(bytes32 requestId);
    error NaiveMarketUnknownRequest(bytes32 requestId);
    error NaiveMarketNotDso(bytes32 requestId, address caller);
    error NaiveMarketBatchTooLarge(uint256 size, uint256 max);
    error NaiveMarketLengthMismatch(uint256 ids, uint256 amounts);
    error NaiveMarketAlreadyPaid(uint256 offerId);
    error NaiveMarketOverOffer(uint256 offerId, uint256 amount, uint256 maxPayment);
    error NaiveMarketOverBudget(bytes32 requestId, uint256 spent, uint256 budget);

    event RequestPosted(bytes32 indexed requestId, address indexed dso, uint256 budget);
    event OfferSubmitted(uint256 indexed offerId, bytes32 indexed requestId, address indexed fsp);
    event OrderPaid(uint256 indexed offerId, address indexed fsp, uint256 amount);
    event Refunded(bytes32 indexed requestId, address indexed dso, uint256 amount);

    IERC20 public immutable token;
    mapping(bytes32 requestId => Request) public requests;
    mapping(uint256 offerId => Offer) public offers;
    uint256 public offerCount;

    constructor(IERC20 token_) {
        token = token_;
    }

    /// @notice DSO escrows a budget for a request.
    function postRequest(bytes32 requestId, uint128 budget) external {
        if (requests[requestId].dso != address(0)) revert NaiveMarketRequestExists(requestId);
        requests[requestId] = Request({dso: msg.sender, budget: budget, spent: 0});
        emit RequestPosted(requestId, msg.sender, budget);
        token.safeTransferFrom(msg.sender, address(this), budget);
    }

    /// @notice FSP stores one offer in full on-chain.
    function submitOffer(bytes32 requestId, int64 powerW, uint64 pricePerMwh, uint128 maxPayment)
        external
        returns (uint256 offerId)
    {
        if (requests[requestId].dso == address(0)) revert NaiveMarketUnknownRequest(requestId);
        offerId = ++offerCount;
        offers[offerId] = Offer({
            fsp: msg.sender,
            requestId: requestId,
            powerW: powerW,
            pricePerMwh: pricePerMwh,
            maxPayment: maxPayment,
            paid: false
        });
        emit OfferSubmitted(offerId, requestId, msg.sender);
    }

    /// @notice DSO accepts offers and pays each one by its own ERC-20 transfer.
    function acceptAndPay(bytes32 requestId, uint256[] calldata offerIds, uint128[] calldata amounts)
        external
    {
        Request storage request = requests[requestId];
        if (request.dso != msg.sender) revert NaiveMarketNotDso(requestId, msg.sender);
        if (offerIds.length > MAX_BATCH) revert NaiveMarketBatchTooLarge(offerIds.length, MAX_BATCH);
        if (offerIds.length != amounts.length) {
            revert NaiveMarketLengthMismatch(offerIds.length, amounts.length);
        }
        uint128 spent = request.spent;
        for (uint256 i = 0; i < offerIds.length; ++i) {
            Offer storage offer = offers[offerIds[i]];
            if (offer.paid) revert NaiveMarketAlreadyPaid(offerIds[i]);
            if (amounts[i] > offer.maxPayment) {
                revert NaiveMarketOverOffer(offerIds[i], amounts[i], offer.maxPayment);
            }
            offer.paid = true;
            spent += amounts[i];
        }
        if (spent > request.budget) revert NaiveMarketOverBudget(requestId, spent, request.budget);
        request.spent = spent;
        for (uint256 i = 0; i < offerIds.length; ++i) {
            address fsp = offers[offerIds[i]].fsp;
            emit OrderPaid(offerIds[i], fsp, amounts[i]);
            token.safeTransfer(fsp, amounts[i]);
        }
    }

    /// @notice DSO takes back what was not paid out.
    function refund(bytes32 requestId) external {
        Request storage request = requests[requestId];
        if (request.dso != msg.sender) revert NaiveMarketNotDso(requestId, msg.sender);
        uint256 amount = request.budget - request.spent;
        request.spent = request.budget;
        emit Refunded(requestId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }
}
