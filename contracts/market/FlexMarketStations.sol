// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FlexMarketStorage} from "./FlexMarketStorage.sol";

/// @title FlexMarketStations
/// @notice The station-key registry: a charge point operator (CPO_ROLE) registers each of its
/// stations' meter key once, and grants the station to the one FSP it has a contract with.
/// @dev Why on-chain and by the CPO: the meter key is what the auditor checks every reading
/// against, so neither the operator (who publishes the asset registry) nor an FSP (who would
/// declare its own key) may choose it. A key is never replaced: a station registered by one
/// CPO cannot be taken over by another, and the block of the event dates the key, so a key
/// registered after a session's gate closure is visible as such.
abstract contract FlexMarketStations is FlexMarketStorage {
    /// @notice A CPO registered the meter key of `stationHash` (keccak256 of the station id).
    event StationRegistered(bytes32 indexed stationHash, address indexed cpo, address meterKey);
    /// @notice The station's CPO granted it to `fsp` (address(0): the grant is withdrawn).
    event StationGranted(bytes32 indexed stationHash, address indexed fsp, address indexed cpo);

    /// @notice The station already has a key, registered by `cpo`.
    error FlexMarketStationRegistered(bytes32 stationHash, address cpo);
    /// @notice Only the CPO that registered the station may grant it.
    error FlexMarketNotStationCpo(bytes32 stationHash, address caller);
    /// @notice A station can only be granted to an account holding FSP_ROLE.
    error FlexMarketNotFsp(address account);

    /// @notice Register `meterKey` as the key that signs the readings of `stationHash`.
    function registerStation(bytes32 stationHash, address meterKey) external onlyRole(CPO_ROLE) {
        if (meterKey == address(0)) revert FlexMarketZeroAddress();
        Station storage s = _stations[stationHash];
        if (s.cpo != address(0)) revert FlexMarketStationRegistered(stationHash, s.cpo);
        s.cpo = msg.sender;
        s.meterKey = meterKey;
        emit StationRegistered(stationHash, msg.sender, meterKey);
    }

    /// @notice Grant `stationHash` to `fsp` (the FSP whose portfolio holds it); address(0)
    /// withdraws the grant. One FSP at a time: a new grant replaces the previous one.
    function grantStation(bytes32 stationHash, address fsp) external onlyRole(CPO_ROLE) {
        Station storage s = _stations[stationHash];
        if (s.cpo != msg.sender) revert FlexMarketNotStationCpo(stationHash, msg.sender);
        if (fsp != address(0) && !hasRole(FSP_ROLE, fsp)) revert FlexMarketNotFsp(fsp);
        s.fsp = fsp;
        emit StationGranted(stationHash, fsp, msg.sender);
    }

    /// @notice The station's CPO, meter key and granted FSP (all zero when not registered).
    function station(bytes32 stationHash) external view returns (address cpo, address meterKey, address fsp) {
        Station storage s = _stations[stationHash];
        return (s.cpo, s.meterKey, s.fsp);
    }
}
