// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {FlexMarketStations} from "../market/FlexMarketStations.sol";

/// @notice The CPO-attested station-key registry: only a CPO registers a station's key, once;
/// only that CPO grants the station, and only to an FSP.
contract StationsTest is MarketTestBase {
    address internal cpo = address(0xC0C0);
    address internal cpo2 = address(0xC0C2);
    address internal meter = address(0x3E7E);
    bytes32 internal constant STATION = keccak256("CS-0001");

    function setUp() public override {
        super.setUp();
        _register(cpo, market.CPO_ROLE());
        _register(cpo2, market.CPO_ROLE());
    }

    function test_cpoRegistersAndGrants() public {
        vm.prank(cpo);
        market.registerStation(STATION, meter);
        vm.prank(cpo);
        market.grantStation(STATION, fsp1);
        (address owner, address key, address fsp) = market.station(STATION);
        assertEq(owner, cpo, "cpo");
        assertEq(key, meter, "meter key");
        assertEq(fsp, fsp1, "granted fsp");
        vm.prank(cpo); // withdrawing the grant
        market.grantStation(STATION, address(0));
        (,, fsp) = market.station(STATION);
        assertEq(fsp, address(0), "grant withdrawn");
    }

    function test_registerStation_revertsForNonCpo() public {
        bytes memory err =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, fsp1, market.CPO_ROLE());
        vm.expectRevert(err); // an FSP cannot declare a meter key
        vm.prank(fsp1);
        market.registerStation(STATION, meter);
        err = abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector, operator, market.CPO_ROLE()
        );
        vm.expectRevert(err); // nor can the market operator
        vm.prank(operator);
        market.registerStation(STATION, meter);
    }

    function test_registerStation_revertsOnZeroKey() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(cpo);
        market.registerStation(STATION, address(0));
    }

    function test_registerStation_revertsWhenAlreadyRegistered() public {
        vm.prank(cpo);
        market.registerStation(STATION, meter);
        bytes memory err = abi.encodeWithSelector(FlexMarketStations.FlexMarketStationRegistered.selector, STATION, cpo);
        vm.expectRevert(err); // another CPO cannot take the station over
        vm.prank(cpo2);
        market.registerStation(STATION, address(0xBEEF));
        vm.expectRevert(err); // nor can its own CPO swap the key afterwards
        vm.prank(cpo);
        market.registerStation(STATION, address(0xBEEF));
    }

    function test_grantStation_revertsForAnotherCpo() public {
        vm.prank(cpo);
        market.registerStation(STATION, meter);
        vm.expectRevert(abi.encodeWithSelector(FlexMarketStations.FlexMarketNotStationCpo.selector, STATION, cpo2));
        vm.prank(cpo2);
        market.grantStation(STATION, fsp1);
    }

    function test_grantStation_revertsForUnregisteredStation() public {
        vm.expectRevert(abi.encodeWithSelector(FlexMarketStations.FlexMarketNotStationCpo.selector, STATION, cpo));
        vm.prank(cpo);
        market.grantStation(STATION, fsp1);
    }

    function test_grantStation_revertsForNonFsp() public {
        vm.prank(cpo);
        market.registerStation(STATION, meter);
        vm.expectRevert(abi.encodeWithSelector(FlexMarketStations.FlexMarketNotFsp.selector, stranger));
        vm.prank(cpo);
        market.grantStation(STATION, stranger);
    }

    function test_grantStation_revertsForNonCpo() public {
        vm.prank(cpo);
        market.registerStation(STATION, meter);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, fsp1, market.CPO_ROLE())
        );
        vm.prank(fsp1);
        market.grantStation(STATION, fsp1);
    }

    function test_revokeParticipant_removesCpoRole() public {
        vm.prank(admin);
        market.revokeParticipant(cpo);
        assertTrue(!market.hasRole(market.CPO_ROLE(), cpo), "CPO role revoked");
    }
}
