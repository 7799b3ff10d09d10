// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract SettlementTokenTest is MarketTestBase {
    function test_metadata_isFlexSettlementEuroWithSixDecimals() public view {
        assertEq(token.decimals(), 6, "decimals");
        assertEq(keccak256(bytes(token.name())), keccak256("Flex Settlement Euro"), "name");
        assertEq(keccak256(bytes(token.symbol())), keccak256("fEUR"), "symbol");
    }

    function test_mint_byMinterIncreasesBalance() public {
        vm.prank(admin);
        token.mint(dso, 5e6);
        assertEq(token.balanceOf(dso), 5e6, "balance");
        assertEq(token.totalSupply(), 5e6, "supply");
    }

    function test_mint_revertsForNonMinter() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, dso, role));
        vm.prank(dso);
        token.mint(dso, 1);
    }
}
