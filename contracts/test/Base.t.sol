// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {FlexMarket} from "../FlexMarket.sol";
import {FlexPositions} from "../FlexPositions.sol";
import {SettlementToken} from "../SettlementToken.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @notice The subset of Foundry cheatcodes these tests use (forge-std is not available offline).
interface Vm {
    function warp(uint256 newTimestamp) external;
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit() external;
    function expectEmit(address emitter) external;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function getBlockTimestamp() external view returns (uint256);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
}

/// @notice Tiny assertion kit: a failed check reverts with a message naming the values.
abstract contract Assertions {
    error AssertionFailed(string what, uint256 left, uint256 right);
    error AssertionFailedBytes32(string what, bytes32 left, bytes32 right);
    error AssertionFailedAddress(string what, address left, address right);

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert AssertionFailed(what, a, b);
    }

    function assertEq(bytes32 a, bytes32 b, string memory what) internal pure {
        if (a != b) revert AssertionFailedBytes32(what, a, b);
    }

    function assertEq(address a, address b, string memory what) internal pure {
        if (a != b) revert AssertionFailedAddress(what, a, b);
    }

    function assertTrue(bool c, string memory what) internal pure {
        if (!c) revert AssertionFailed(what, 0, 1);
    }

    function assertLe(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) revert AssertionFailed(what, a, b);
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (max <= min) return min;
        return min + (x % (max - min + 1));
    }
}

/// @notice Shared deployment and lifecycle helpers (Uniswap v4 "Deployers" style).
abstract contract MarketTestBase is Assertions {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    uint64 internal constant T0 = 1_700_000_000;
    uint32 internal constant ISP = 900;
    uint32 internal constant WINDOW = 3600;
    uint256 internal constant BUDGET = 1_000e6;

    SettlementToken internal token;
    FlexMarket internal market;
    FlexPositions internal positions;

    address internal admin = address(0xA11CE);
    address internal operator = address(0x0BE5);
    address internal dso = address(0xD50);
    address internal dso2 = address(0xD502);
    address internal fsp1 = address(0xF5B1);
    address internal fsp2 = address(0xF5B2);
    address internal fsp3 = address(0xF5B3);
    address internal oracle = address(0x0AC1E);
    address internal arbiter = address(0xA4B1);
    address internal clearingHouse = address(0xC1EA);
    address internal stranger = address(0xBAD);

    bytes32 internal constant SID = keccak256("session-1");
    bytes32 internal constant TERMS = keccak256("terms-1");
    bytes32 internal constant RID = keccak256("request-1");
    bytes32 internal constant RID2 = keccak256("request-2");
    bytes32 internal constant CP = keccak256("congestion-point-1");
    bytes32 internal constant ROOT = keccak256("offers-root");

    /// @dev Test-side mirror of the lists the market keeps only as hashes (and in events).
    mapping(bytes32 sessionId => bytes32[]) internal _sessionRequestIds;
    mapping(bytes32 sessionId => IFlexMarket.Reservation[]) internal _sessionReservations;
    mapping(bytes32 sessionId => uint128[]) internal _sessionPayouts;

    function _ids(bytes32 sessionId) internal view returns (bytes32[] memory) {
        return _sessionRequestIds[sessionId];
    }

    function _resv(bytes32 sessionId) internal view returns (IFlexMarket.Reservation[] memory) {
        return _sessionReservations[sessionId];
    }

    function _paid(bytes32 sessionId) internal view returns (uint128[] memory) {
        return _sessionPayouts[sessionId];
    }

    function _recordClearing(bytes32 sessionId, IFlexMarket.Reservation[] memory list) internal {
        delete _sessionReservations[sessionId];
        for (uint256 i = 0; i < list.length; ++i) {
            _sessionReservations[sessionId].push(list[i]);
        }
    }

    function _recordPayouts(bytes32 sessionId, uint128[] memory payouts) internal {
        _sessionPayouts[sessionId] = payouts;
    }

    function _finalize(bytes32 sessionId) internal {
        market.finalize(sessionId, _ids(sessionId), _resv(sessionId), _paid(sessionId));
    }

    /// @dev The settlement token of the market under test (a test may deploy a variant).
    function _newToken() internal virtual returns (SettlementToken) {
        return new SettlementToken(admin);
    }

    function setUp() public virtual {
        vm.warp(T0);
        token = _newToken();
        market = new FlexMarket(IERC20(address(token)), admin, 20_000);
        positions = FlexPositions(market.positions());
        _register(operator, market.MARKET_OPERATOR_ROLE());
        _register(dso, market.DSO_ROLE());
        _register(dso2, market.DSO_ROLE());
        _register(fsp1, market.FSP_ROLE());
        _register(fsp2, market.FSP_ROLE());
        _register(fsp3, market.FSP_ROLE());
        _register(oracle, market.METER_ORACLE_ROLE());
        _register(arbiter, market.ARBITER_ROLE());
        _register(clearingHouse, market.CLEARING_HOUSE_ROLE());
    }

    // ------------------------------------------------------------------ helpers

    function _register(address account, bytes32 role) internal {
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = role;
        vm.prank(admin);
        market.registerParticipant(account, keccak256(abi.encode(account)), roles);
    }

    function _gate(bytes32) internal pure returns (uint64) {
        return T0 + 3600;
    }

    function _deliveryEnd() internal pure returns (uint64) {
        return T0 + 3600 + 4 * ISP;
    }

    function _create(bytes32 sessionId) internal {
        vm.prank(operator);
        market.createSession(sessionId, T0 + 3600, T0 + 3600, _deliveryEnd(), ISP, WINDOW, TERMS);
    }

    function _fund(address who, uint256 amount) internal {
        vm.prank(admin);
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(market), amount);
    }

    function _post(address who, bytes32 sessionId, bytes32 requestId, uint256 budget) internal {
        _fund(who, budget);
        vm.prank(who);
        market.postRequest(sessionId, requestId, CP, keccak256(abi.encode(requestId)), budget);
        _sessionRequestIds[sessionId].push(requestId);
    }

    function _commit(address fsp, bytes32 sessionId) internal {
        vm.prank(fsp);
        market.commitOffers(
            sessionId,
            keccak256(abi.encode(fsp, sessionId)),
            3,
            keccak256(abi.encode("prognosis", fsp)),
            keccak256(abi.encode("portfolio", fsp))
        );
    }

    function _close(bytes32 sessionId) internal {
        vm.warp(_gate(sessionId));
        vm.prank(operator);
        market.closeSession(sessionId);
    }

    function _res(bytes32 requestId, address fsp, uint128 amount)
        internal
        pure
        returns (IFlexMarket.Reservation memory)
    {
        return IFlexMarket.Reservation({requestId: requestId, fsp: fsp, amount: amount});
    }

    function _two(IFlexMarket.Reservation memory a, IFlexMarket.Reservation memory b)
        internal
        pure
        returns (IFlexMarket.Reservation[] memory list)
    {
        list = new IFlexMarket.Reservation[](2);
        list[0] = a;
        list[1] = b;
    }

    function _payouts(uint128 a, uint128 b) internal pure returns (uint128[] memory p) {
        p = new uint128[](2);
        p[0] = a;
        p[1] = b;
    }

    function _clear(bytes32 sessionId, IFlexMarket.Reservation[] memory list) internal {
        vm.prank(operator);
        market.postClearing(sessionId, keccak256("input"), keccak256("result"), list);
        _recordClearing(sessionId, list);
    }

    function _attest(bytes32 sessionId, uint128[] memory payouts) internal {
        vm.warp(_deliveryEnd());
        vm.prank(oracle);
        market.attestDelivery(sessionId, keccak256("delivery"), _resv(sessionId), payouts);
        _recordPayouts(sessionId, payouts);
    }

    /// @dev Session SID: one request of BUDGET by dso, fsp1 reserved 400, fsp2 reserved 300.
    function _cleared() internal {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _commit(fsp2, SID);
        _close(SID);
        _clear(SID, _two(_res(RID, fsp1, 400e6), _res(RID, fsp2, 300e6)));
    }

    /// @dev _cleared() plus attested payouts 350 (fsp1) and 300 (fsp2).
    function _verified() internal {
        _cleared();
        _attest(SID, _payouts(350e6, 300e6));
    }

    function _afterWindow() internal {
        vm.warp(_deliveryEnd() + WINDOW);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _notInState(bytes32 sessionId, IFlexMarket.State expected, IFlexMarket.State actual)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(IFlexMarket.FlexMarketNotInState.selector, sessionId, expected, actual);
    }
}
