// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev Typed ids of the market. The ABI keeps plain bytes32 (a value type encodes as its
/// underlying type); inside the contract these types stop a session id from indexing the
/// request mapping, or two bytes32 arguments from being passed in the wrong order. Wrapping and
/// unwrapping cost no gas.

/// @dev Off-chain market session (gate closure, delivery window, clearing, settlement).
type SessionId is bytes32;

/// @dev A DSO's flexibility request, with its escrowed budget.
type RequestId is bytes32;

/// @dev A clearing-house netting period (settled once).
type PeriodId is bytes32;
