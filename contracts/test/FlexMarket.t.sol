// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketTestBase} from "./Base.t.sol";
import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {FlexMarket} from "../FlexMarket.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Success and refusal paths of every FlexMarket function.
contract FlexMarketTest is MarketTestBase {
    // ================================================================== constructor and registry

    function test_constructor_revertsOnZeroToken() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        new FlexMarket(IERC20(address(0)), admin, 20_000);
    }

    function test_registerParticipant_storesMetadataAndGrantsRoles() public {
        bytes32[] memory roles = new bytes32[](2);
        roles[0] = market.DSO_ROLE();
        roles[1] = market.FSP_ROLE();
        vm.expectEmit(address(market));
        emit IFlexMarket.ParticipantRegistered(stranger, bytes32("meta"), roles);
        vm.prank(admin);
        market.registerParticipant(stranger, bytes32("meta"), roles);
        assertEq(market.participantMetadata(stranger), bytes32("meta"), "metadata");
        assertTrue(market.isRegistered(stranger), "registered");
        assertTrue(market.hasRole(market.DSO_ROLE(), stranger), "dso role");
        assertTrue(market.hasRole(market.FSP_ROLE(), stranger), "fsp role");
    }

    function test_registerParticipant_reRegisteringUpdatesMetadata() public {
        bytes32[] memory none = new bytes32[](0);
        vm.prank(admin);
        market.registerParticipant(fsp1, bytes32("new"), none);
        assertEq(market.participantMetadata(fsp1), bytes32("new"), "metadata");
    }

    function test_registerParticipant_revertsForNonAdmin() public {
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        vm.prank(stranger);
        market.registerParticipant(stranger, bytes32("meta"), none);
    }

    function test_registerParticipant_revertsOnUnknownRole() public {
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = bytes32(0); // DEFAULT_ADMIN_ROLE may not be handed out through the registry
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketUnknownRole.selector, bytes32(0)));
        vm.prank(admin);
        market.registerParticipant(stranger, bytes32("meta"), roles);
    }

    function test_registerParticipant_revertsOnZeroAddress() public {
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(admin);
        market.registerParticipant(address(0), bytes32("meta"), none);
    }

    function test_registerParticipant_revertsOnTooManyRoles() public {
        bytes32[] memory roles = new bytes32[](8);
        for (uint256 i = 0; i < 8; ++i) {
            roles[i] = market.DSO_ROLE();
        }
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyRoles.selector, 8, 7));
        vm.prank(admin);
        market.registerParticipant(stranger, bytes32("meta"), roles);
    }

    function test_revokeParticipant_removesRolesButKeepsCredit() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.prank(admin);
        market.revokeParticipant(fsp1);
        assertTrue(!market.hasRole(market.FSP_ROLE(), fsp1), "role revoked");
        assertEq(market.credits(fsp1), 350e6, "credit kept");
        vm.prank(fsp1);
        market.withdraw();
        assertEq(token.balanceOf(fsp1), 350e6, "withdrawn after revocation");
    }

    function test_revokeParticipant_revertsForUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotRegistered.selector, stranger));
        vm.prank(admin);
        market.revokeParticipant(stranger);
    }

    // ================================================================== createSession

    function test_createSession_opensSession() public {
        vm.expectEmit(address(market));
        emit IFlexMarket.SessionCreated(SID, T0 + 3600, T0 + 3600, _deliveryEnd(), ISP, WINDOW, TERMS);
        _create(SID);
        IFlexMarket.SessionInfo memory s = market.session(SID);
        assertEq(uint8(s.state), uint8(IFlexMarket.State.Open), "state");
        assertEq(s.gateClosure, T0 + 3600, "gate");
        assertEq(s.ispSeconds, ISP, "isp");
        assertEq(s.challengeWindow, WINDOW, "window");
        assertEq(s.termsHash, TERMS, "termsHash");
        assertEq(market.session(SID).index, 0, "index");
        assertEq(market.sessionCount(), 1, "count");
    }

    function test_createSession_revertsForNonOperator() public {
        vm.expectRevert(_unauthorized(dso, market.MARKET_OPERATOR_ROLE()));
        vm.prank(dso);
        market.createSession(SID, T0 + 3600, T0 + 3600, _deliveryEnd(), ISP, WINDOW, TERMS);
    }

    function test_createSession_termsHashOutlivesEveryStep() public {
        _verified();
        _afterWindow();
        _finalize(SID);
        assertEq(market.session(SID).termsHash, TERMS, "the committed terms never change");
    }

    function test_createSession_revertsWhenIdExists() public {
        _create(SID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketSessionExists.selector, SID));
        _create(SID);
    }

    function test_createSession_revertsWhenGateClosureNotInFuture() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketGateClosureNotInFuture.selector, T0, T0));
        vm.prank(operator);
        market.createSession(SID, T0, T0, T0 + 900, ISP, WINDOW, TERMS);
    }

    function test_createSession_revertsWhenDeliveryStartsBeforeGateClosure() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketInvalidDeliveryWindow.selector, T0 + 3600, T0 + 1800, T0 + 5400
            )
        );
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 1800, T0 + 5400, ISP, WINDOW, TERMS);
    }

    function test_createSession_revertsWhenDeliveryWindowEmpty() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketInvalidDeliveryWindow.selector, T0 + 3600, T0 + 3600, T0 + 3600
            )
        );
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 3600, T0 + 3600, ISP, WINDOW, TERMS);
    }

    function test_createSession_revertsWhenIspDoesNotDivideWindow() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidIsp.selector, uint32(700), uint64(3600)));
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 3600, T0 + 7200, 700, WINDOW, TERMS);
    }

    function test_createSession_revertsOnZeroIsp() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidIsp.selector, uint32(0), uint64(3600)));
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 3600, T0 + 7200, 0, WINDOW, TERMS);
    }

    function test_createSession_revertsOnZeroOrHugeChallengeWindow() public {
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidChallengeWindow.selector, uint32(0), uint32(30 days))
        );
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 3600, T0 + 7200, ISP, 0, TERMS);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketInvalidChallengeWindow.selector, uint32(31 days), uint32(30 days)
            )
        );
        vm.prank(operator);
        market.createSession(SID, T0 + 3600, T0 + 3600, T0 + 7200, ISP, 31 days, TERMS);
    }

    // ================================================================== postRequest

    function test_postRequest_escrowsBudgetAndRecordsRequest() public {
        _create(SID);
        _fund(dso, BUDGET);
        vm.expectEmit(address(market));
        emit IFlexMarket.RequestPosted(SID, RID, dso, CP, bytes32("h"), BUDGET);
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
        IFlexMarket.RequestInfo memory r = market.request(RID);
        assertEq(r.sessionIndex, 0, "session");
        assertEq(r.dso, dso, "dso");
        assertEq(r.indexInSession, 0, "index");
        assertEq(r.requestHash, bytes32("h"), "hash");
        assertEq(r.budget, BUDGET, "budget");
        assertTrue(!r.cancelled, "not cancelled");
        assertEq(token.balanceOf(address(market)), BUDGET, "escrow balance");
        assertEq(market.totalEscrowed(), BUDGET, "escrow counter");
        assertEq(market.session(SID).budget, BUDGET, "session budget");
        assertEq(market.session(SID).requestCount, 1, "counted");
        assertEq(market.positionBalance(dso, uint256(1) << 248), BUDGET, "REQUEST position");
    }

    function test_postRequest_revertsForNonDso() public {
        _create(SID);
        vm.expectRevert(_unauthorized(fsp1, market.DSO_ROLE()));
        vm.prank(fsp1);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsForRevokedDso() public {
        _create(SID);
        vm.prank(admin);
        market.revokeParticipant(dso);
        _fund(dso, BUDGET);
        vm.expectRevert(_unauthorized(dso, market.DSO_ROLE()));
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsAfterGateClosure() public {
        _create(SID);
        _fund(dso, BUDGET);
        vm.warp(T0 + 3600);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, T0 + 3600, T0 + 3600));
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsForUnknownSession() public {
        _fund(dso, BUDGET);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Open, IFlexMarket.State.None));
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsOnDuplicateId() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _fund(dso, BUDGET);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestExists.selector, RID));
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsOnZeroBudget() public {
        _create(SID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketZeroBudget.selector, RID));
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), 0);
    }

    function test_postRequest_revertsOnBudgetAboveUint64() public {
        _create(SID);
        uint256 tooMuch = uint256(type(uint64).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketAmountTooLarge.selector, tooMuch, type(uint64).max)
        );
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), tooMuch);
    }

    function test_postRequest_revertsWithoutAllowance() public {
        _create(SID);
        vm.prank(admin);
        token.mint(dso, BUDGET);
        vm.expectRevert();
        vm.prank(dso);
        market.postRequest(SID, RID, CP, bytes32("h"), BUDGET);
    }

    function test_postRequest_revertsBeyondMaxRequests() public {
        _create(SID);
        uint256 max = market.MAX_REQUESTS_PER_SESSION();
        for (uint256 i = 0; i < max; ++i) {
            _post(dso, SID, bytes32(i + 1), 1);
        }
        _fund(dso, 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyRequests.selector, SID, max));
        vm.prank(dso);
        market.postRequest(SID, bytes32(max + 1), CP, bytes32("h"), 1);
    }

    function test_postRequestWithPermit_escrowsWithoutPriorApproval() public {
        uint256 pk = 0xD5011;
        address signer = vm.addr(pk);
        _register(signer, market.DSO_ROLE());
        _create(SID);
        vm.prank(admin);
        token.mint(signer, BUDGET);
        uint256 deadline = T0 + 600;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                signer,
                address(market),
                BUDGET,
                token.nonces(signer),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        vm.prank(signer);
        market.postRequestWithPermit(SID, RID, CP, bytes32("h"), BUDGET, deadline, v, r, s);
        assertEq(token.balanceOf(address(market)), BUDGET, "escrowed");
        assertEq(token.nonces(signer), 1, "permit used");
    }

    function test_postRequestWithPermit_revertsWithBadSignatureAndNoAllowance() public {
        _create(SID);
        vm.prank(admin);
        token.mint(dso, BUDGET);
        vm.expectRevert();
        vm.prank(dso);
        market.postRequestWithPermit(SID, RID, CP, bytes32("h"), BUDGET, T0 + 600, 27, bytes32(0), bytes32(0));
    }

    // ================================================================== cancelRequest

    function test_cancelRequest_creditsFullBudgetToDso() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        vm.expectEmit(address(market));
        emit IFlexMarket.RequestCancelled(SID, RID, dso, BUDGET);
        vm.prank(dso);
        market.cancelRequest(SID, RID);
        assertTrue(market.request(RID).cancelled, "cancelled");
        assertEq(market.credits(dso), BUDGET, "credited");
        assertEq(market.totalEscrowed(), 0, "escrow released");
        assertEq(market.totalCredited(), BUDGET, "credit counter");
        vm.prank(dso);
        market.withdraw();
        assertEq(token.balanceOf(dso), BUDGET, "refunded in full");
    }

    function test_cancelRequest_staysOpenToARevokedDso() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        vm.prank(admin);
        market.revokeParticipant(dso);
        vm.prank(dso);
        market.cancelRequest(SID, RID);
        assertEq(market.credits(dso), BUDGET, "own escrow back");
    }

    function test_cancelRequest_revertsForOtherDso() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotRequestOwner.selector, RID, dso2));
        vm.prank(dso2);
        market.cancelRequest(SID, RID);
    }

    function test_cancelRequest_revertsForUnknownRequest() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketUnknownRequest.selector, RID));
        vm.prank(dso);
        market.cancelRequest(SID, RID);
    }

    function test_cancelRequest_revertsWhenNamingAnotherSession() public {
        bytes32 sid2 = keccak256("session-2");
        _create(SID);
        _create(sid2);
        _post(dso, SID, RID, BUDGET);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestNotInSession.selector, sid2, RID));
        vm.prank(dso);
        market.cancelRequest(sid2, RID);
        vm.expectRevert(_notInState(keccak256("nope"), IFlexMarket.State.Open, IFlexMarket.State.None));
        vm.prank(dso);
        market.cancelRequest(keccak256("nope"), RID);
    }

    function test_cancelRequest_revertsWhenAlreadyCancelled() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        vm.prank(dso);
        market.cancelRequest(SID, RID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestAlreadyCancelled.selector, RID));
        vm.prank(dso);
        market.cancelRequest(SID, RID);
    }

    function test_cancelRequest_revertsAfterGateClosure() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        vm.warp(T0 + 3600);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, T0 + 3600, T0 + 3600));
        vm.prank(dso);
        market.cancelRequest(SID, RID);
    }

    function test_cancelRequest_cancelledRequestCannotBeReserved() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        vm.prank(dso);
        market.cancelRequest(SID, RID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestNotInSession.selector, SID, RID));
        _clear(SID, list);
    }

    // ================================================================== commitOffers

    bytes32 internal constant PROG = keccak256("prognosis");
    bytes32 internal constant PORT = keccak256("portfolio");

    function test_commitOffers_setsBitAndEmitsRootCountTimeAndData() public {
        _create(SID);
        assertTrue(!market.hasCommitted(SID, fsp1), "not yet");
        vm.expectEmit(address(market));
        emit IFlexMarket.OffersCommitted(SID, fsp1, ROOT, 12, PROG, PORT);
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 12, PROG, PORT);
        assertTrue(market.hasCommitted(SID, fsp1), "committed");
        assertTrue(!market.hasCommitted(SID, fsp2), "other FSP not committed");
    }

    function test_commitOffers_revertsOnSecondCommit() public {
        _create(SID);
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 12, PROG, PORT);
        vm.warp(T0 + 100);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketAlreadyCommitted.selector, SID, fsp1));
        vm.prank(fsp1);
        market.commitOffers(SID, bytes32("root2"), 5, PROG, PORT);
    }

    function test_commitOffers_revertsForUnregisteredRoleHolder() public {
        _create(SID);
        address stray = address(0xBEEF);
        bytes32 fspRole = market.FSP_ROLE();
        vm.prank(admin);
        market.grantRole(fspRole, stray); // a role granted outside registerParticipant
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotRegistered.selector, stray));
        vm.prank(stray);
        market.commitOffers(SID, ROOT, 1, PROG, PORT);
    }

    // ---------------------------------------------------------------- commitOffersBySig

    uint256 internal constant FSP_KEY = 0xF5F5;

    function _signed(uint256 key, bytes32 sessionId, bytes32 root, uint32 count)
        internal
        view
        returns (IFlexMarket.SignedCommitment memory c)
    {
        bytes32 digest = market.commitmentDigest(sessionId, root, count, PROG, PORT);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        c = IFlexMarket.SignedCommitment({
            offersRoot: root,
            prognosisHash: PROG,
            portfolioHash: PORT,
            offerCount: count,
            r: r,
            vs: bytes32(uint256(v - 27) << 255) | s
        });
    }

    function _one(IFlexMarket.SignedCommitment memory c)
        internal
        pure
        returns (IFlexMarket.SignedCommitment[] memory list)
    {
        list = new IFlexMarket.SignedCommitment[](1);
        list[0] = c;
    }

    function test_commitOffersBySig_relaysTheSignersCommitment() public {
        address signer = vm.addr(FSP_KEY);
        _register(signer, market.FSP_ROLE());
        _create(SID);
        IFlexMarket.SignedCommitment[] memory list = _one(_signed(FSP_KEY, SID, ROOT, 4));
        vm.expectEmit(address(market));
        emit IFlexMarket.OffersCommitted(SID, signer, ROOT, 4, PROG, PORT);
        vm.prank(operator);
        market.commitOffersBySig(SID, list);
        assertTrue(market.hasCommitted(SID, signer), "committed");
    }

    function test_commitOffersBySig_revertsWhenTheOperatorChangesTheRoot() public {
        address signer = vm.addr(FSP_KEY);
        _register(signer, market.FSP_ROLE());
        _create(SID);
        IFlexMarket.SignedCommitment memory c = _signed(FSP_KEY, SID, ROOT, 4);
        c.offersRoot = bytes32("other root"); // recovers some other address, not an FSP
        vm.prank(operator);
        vm.expectRevert(); // FlexMarketBadCommitmentSignature(SID, 0, <some address>)
        market.commitOffersBySig(SID, _one(c));
        assertTrue(!market.hasCommitted(SID, signer), "nothing committed");
    }

    function test_commitOffersBySig_revertsForANonFspSigner() public {
        _create(SID);
        address signer = vm.addr(FSP_KEY); // not registered, no role
        IFlexMarket.SignedCommitment[] memory list = _one(_signed(FSP_KEY, SID, ROOT, 4));
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketBadCommitmentSignature.selector, SID, uint256(0), signer)
        );
        vm.prank(operator);
        market.commitOffersBySig(SID, list);
    }

    function test_commitOffersBySig_revertsForNonOperator() public {
        _create(SID);
        IFlexMarket.SignedCommitment[] memory list = _one(_signed(FSP_KEY, SID, ROOT, 4));
        vm.expectRevert(_unauthorized(fsp1, market.MARKET_OPERATOR_ROLE()));
        vm.prank(fsp1);
        market.commitOffersBySig(SID, list);
    }

    function test_commitOffersBySig_revertsAfterGateAndOnReplay() public {
        address signer = vm.addr(FSP_KEY);
        _register(signer, market.FSP_ROLE());
        _create(SID);
        IFlexMarket.SignedCommitment[] memory list = _one(_signed(FSP_KEY, SID, ROOT, 4));
        vm.prank(operator);
        market.commitOffersBySig(SID, list);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketAlreadyCommitted.selector, SID, signer));
        vm.prank(operator);
        market.commitOffersBySig(SID, list);
        bytes32 sid2 = bytes32("session-2");
        _create(sid2);
        IFlexMarket.SignedCommitment[] memory late = _one(_signed(FSP_KEY, sid2, ROOT, 4));
        vm.warp(T0 + 3600);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, sid2, T0 + 3600, T0 + 3600));
        vm.prank(operator);
        market.commitOffersBySig(sid2, late);
    }

    function test_commitOffersBySig_signatureIsBoundToItsSession() public {
        address signer = vm.addr(FSP_KEY);
        _register(signer, market.FSP_ROLE());
        _create(SID);
        bytes32 sid2 = bytes32("session-2");
        _create(sid2);
        IFlexMarket.SignedCommitment[] memory forOther = _one(_signed(FSP_KEY, sid2, ROOT, 4));
        vm.prank(operator);
        vm.expectRevert(); // recovers another address under SID's digest
        market.commitOffersBySig(SID, forOther);
    }

    function test_commitOffersBySig_followsGrantAndRevokeOfTheFspRole() public {
        address signer = vm.addr(FSP_KEY);
        _register(signer, market.DSO_ROLE()); // registered, not (yet) an FSP
        _create(SID);
        bytes32 sid2 = bytes32("session-2");
        _create(sid2);
        IFlexMarket.SignedCommitment[] memory first = _one(_signed(FSP_KEY, SID, ROOT, 4));
        IFlexMarket.SignedCommitment[] memory second = _one(_signed(FSP_KEY, sid2, ROOT, 4));
        bytes32 fspRole = market.FSP_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketBadCommitmentSignature.selector, SID, uint256(0), signer)
        );
        vm.prank(operator);
        market.commitOffersBySig(SID, first);
        vm.prank(admin);
        market.grantRole(fspRole, signer); // AccessControl's own grant updates the mirror too
        vm.prank(operator);
        market.commitOffersBySig(SID, first);
        assertTrue(market.hasCommitted(SID, signer), "committed once an FSP");
        vm.prank(signer);
        market.renounceRole(fspRole, signer);
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketBadCommitmentSignature.selector, sid2, uint256(0), signer)
        );
        vm.prank(operator);
        market.commitOffersBySig(sid2, second);
    }

    function test_commitOffersBySig_boundsTheBatch() public {
        _create(SID);
        uint256 max = market.MAX_COMMITMENTS_PER_BATCH();
        IFlexMarket.SignedCommitment[] memory list = new IFlexMarket.SignedCommitment[](max + 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyCommitments.selector, max + 1, max));
        vm.prank(operator);
        market.commitOffersBySig(SID, list);
    }

    function test_commitOffers_revertsForNonFsp() public {
        _create(SID);
        vm.expectRevert(_unauthorized(dso, market.FSP_ROLE()));
        vm.prank(dso);
        market.commitOffers(SID, ROOT, 1, PROG, PORT);
    }

    function test_commitOffers_revertsForRevokedFsp() public {
        _create(SID);
        vm.prank(admin);
        market.revokeParticipant(fsp1);
        vm.expectRevert(_unauthorized(fsp1, market.FSP_ROLE()));
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 1, PROG, PORT);
    }

    function test_commitOffers_revertsAfterGateClosure() public {
        _create(SID);
        vm.warp(T0 + 3600);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, T0 + 3600, T0 + 3600));
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 1, PROG, PORT);
    }

    function test_commitOffers_revertsOnEmptyCommitment() public {
        _create(SID);
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidCommitment.selector, SID, bytes32(0), uint32(1))
        );
        vm.prank(fsp1);
        market.commitOffers(SID, bytes32(0), 1, PROG, PORT);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidCommitment.selector, SID, ROOT, uint32(0)));
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 0, PROG, PORT);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketInvalidCommitment.selector, SID, ROOT, uint32(1)));
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 1, PROG, bytes32(0));
    }

    function test_commitOffers_revertsWhenSessionClosed() public {
        _create(SID);
        _close(SID);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Open, IFlexMarket.State.Closed));
        vm.prank(fsp1);
        market.commitOffers(SID, ROOT, 1, PROG, PORT);
    }

    // ================================================================== closeSession

    function test_closeSession_closesAtGateClosure() public {
        _create(SID);
        vm.warp(T0 + 3600);
        vm.expectEmit(address(market));
        emit IFlexMarket.SessionClosed(SID);
        vm.prank(operator);
        market.closeSession(SID);
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Closed), "closed");
    }

    function test_closeSession_revertsBeforeGateClosure() public {
        _create(SID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooEarly.selector, SID, T0 + 3600, T0));
        vm.prank(operator);
        market.closeSession(SID);
    }

    function test_closeSession_revertsForNonOperator() public {
        _create(SID);
        vm.warp(T0 + 3600);
        vm.expectRevert(_unauthorized(stranger, market.MARKET_OPERATOR_ROLE()));
        vm.prank(stranger);
        market.closeSession(SID);
    }

    function test_closeSession_revertsWhenAlreadyClosed() public {
        _create(SID);
        _close(SID);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Open, IFlexMarket.State.Closed));
        vm.prank(operator);
        market.closeSession(SID);
    }

    // ================================================================== postClearing

    function test_postClearing_recordsReservationsAndRoots() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _commit(fsp2, SID);
        _close(SID);
        vm.expectEmit(address(market));
        IFlexMarket.Reservation[] memory list = _two(_res(RID, fsp1, 400e6), _res(RID, fsp2, 300e6));
        emit IFlexMarket.ClearingPosted(SID, keccak256("input"), keccak256("result"), 2, 700e6, list);
        _clear(SID, list);
        IFlexMarket.SessionInfo memory s = market.session(SID);
        assertEq(uint8(s.state), uint8(IFlexMarket.State.Cleared), "state");
        assertEq(s.reservationsHash, keccak256(abi.encode(list)), "reservations hash");
        assertEq(s.reservationCount, 2, "count");
        assertEq(s.reserved, 700e6, "reserved");
        assertEq(s.payoutsHash, bytes32(0), "no payouts yet");
        assertEq(market.positionBalance(fsp1, uint256(2) << 248), 400e6, "AWARD fsp1");
        assertEq(market.positionBalance(fsp2, uint256(2) << 248), 300e6, "AWARD fsp2");
    }

    function test_postClearing_acceptsEmptyResult() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _close(SID);
        _clear(SID, new IFlexMarket.Reservation[](0));
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Cleared), "state");
    }

    function test_postClearing_revertsWhenReservationsExceedBudget() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _commit(fsp2, SID);
        _close(SID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketBudgetExceeded.selector, RID, BUDGET, BUDGET + 1));
        _clear(SID, _two(_res(RID, fsp1, 600e6), _res(RID, fsp2, 400e6 + 1)));
    }

    function test_postClearing_revertsBeforeClose() public {
        _create(SID);
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Closed, IFlexMarket.State.Open));
        _clear(SID, new IFlexMarket.Reservation[](0));
    }

    function test_postClearing_revertsForNonOperator() public {
        _create(SID);
        _close(SID);
        vm.expectRevert(_unauthorized(oracle, market.MARKET_OPERATOR_ROLE()));
        vm.prank(oracle);
        market.postClearing(SID, bytes32(0), bytes32(0), new IFlexMarket.Reservation[](0));
    }

    function test_postClearing_revertsWhenFspDidNotCommit() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _close(SID);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketFspNotCommitted.selector, SID, fsp2));
        _clear(SID, _two(_res(RID, fsp1, 1), _res(RID, fsp2, 1)));
    }

    function test_postClearing_revertsWhenFspLostRole() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _commit(fsp2, SID);
        _close(SID);
        vm.prank(admin);
        market.revokeParticipant(fsp2);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketFspNotAuthorized.selector, SID, fsp2));
        _clear(SID, _two(_res(RID, fsp1, 1), _res(RID, fsp2, 1)));
    }

    function test_postClearing_revertsForRequestOfOtherSession() public {
        bytes32 other = keccak256("session-2");
        _create(SID);
        _create(other);
        _post(dso, other, RID2, BUDGET);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID2, fsp1, 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestNotInSession.selector, SID, RID2));
        _clear(SID, list);
    }

    function test_postClearing_revertsOnZeroReservation() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, 0);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketZeroReservation.selector, RID, fsp1));
        _clear(SID, list);
    }

    function test_postClearing_revertsBeyondMaxReservations() public {
        _create(SID);
        _close(SID);
        uint256 n = market.MAX_RESERVATIONS_PER_SESSION() + 1;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooManyReservations.selector, SID, n, n - 1));
        _clear(SID, new IFlexMarket.Reservation[](n));
    }

    // ================================================================== attestDelivery

    function test_attestDelivery_recordsPayoutsAndOpensWindow() public {
        _cleared();
        vm.warp(_deliveryEnd());
        vm.expectEmit(address(market));
        emit IFlexMarket.DeliveryAttested(
            SID, keccak256("delivery"), 650e6, _deliveryEnd() + WINDOW, _payouts(350e6, 300e6)
        );
        vm.prank(oracle);
        market.attestDelivery(SID, keccak256("delivery"), _resv(SID), _payouts(350e6, 300e6));
        IFlexMarket.SessionInfo memory s = market.session(SID);
        assertEq(uint8(s.state), uint8(IFlexMarket.State.Verified), "state");
        assertEq(s.verifiedAt, _deliveryEnd(), "verifiedAt");
        assertEq(s.paid, 650e6, "paid");
        assertEq(s.payoutsHash, keccak256(abi.encode(_payouts(350e6, 300e6))), "payouts hash");
    }

    function test_attestDelivery_revertsBeforeDeliveryEnd() public {
        _cleared();
        vm.warp(_deliveryEnd() - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketTooEarly.selector, SID, _deliveryEnd(), _deliveryEnd() - 1)
        );
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), _payouts(0, 0));
    }

    function test_attestDelivery_revertsWhenPayoutExceedsReservation() public {
        _cleared();
        vm.warp(_deliveryEnd());
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketPayoutExceedsReservation.selector, SID, 1, 300e6, 300e6 + 1)
        );
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), _payouts(0, 300e6 + 1));
    }

    function test_attestDelivery_revertsOnPayoutCountMismatch() public {
        _cleared();
        vm.warp(_deliveryEnd());
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketPayoutCountMismatch.selector, SID, 2, 1));
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), new uint128[](1));
    }

    function test_attestDelivery_revertsForNonOracle() public {
        _cleared();
        vm.warp(_deliveryEnd());
        vm.expectRevert(_unauthorized(operator, market.METER_ORACLE_ROLE()));
        vm.prank(operator);
        market.attestDelivery(SID, bytes32(0), _resv(SID), _payouts(0, 0));
    }

    function test_attestDelivery_revertsWhenNotCleared() public {
        _create(SID);
        vm.warp(_deliveryEnd());
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.Open));
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), new uint128[](0));
    }

    function test_attestDelivery_revertsWhenAttestedTwice() public {
        _verified();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Cleared, IFlexMarket.State.Verified));
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), _resv(SID), _payouts(0, 0));
    }

    // ================================================================== dispute and resolve

    function test_dispute_byFspFreezesSession() public {
        _verified();
        vm.expectEmit(address(market));
        emit IFlexMarket.SessionDisputed(SID, fsp1, bytes32("reason"));
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        IFlexMarket.SessionInfo memory s = market.session(SID);
        assertEq(uint8(s.state), uint8(IFlexMarket.State.Disputed), "state");
        assertEq(s.disputedBy, fsp1, "by");
        assertEq(s.disputeReasonHash, bytes32("reason"), "reason");
        _afterWindow();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Verified, IFlexMarket.State.Disputed));
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    function test_dispute_byDsoOfSessionIsAccepted() public {
        _verified();
        vm.prank(dso);
        market.dispute(SID, bytes32("reason"), RID);
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Disputed), "state");
    }

    function test_dispute_staysOpenToARevokedParty() public {
        _verified();
        vm.prank(admin);
        market.revokeParticipant(fsp2);
        vm.prank(fsp2);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Disputed), "state");
    }

    function test_dispute_revertsOutsideWindow() public {
        _verified();
        _afterWindow();
        uint64 deadline = _deliveryEnd() + WINDOW;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooLate.selector, SID, deadline, deadline));
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
    }

    function test_dispute_revertsBeforeAttestation() public {
        _cleared();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Verified, IFlexMarket.State.Cleared));
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
    }

    function test_dispute_revertsForNonParty() public {
        _verified();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotParty.selector, SID, fsp3));
        vm.prank(fsp3);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotParty.selector, SID, dso2));
        vm.prank(dso2);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        // naming someone else's request does not make a party
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotParty.selector, SID, dso2));
        vm.prank(dso2);
        market.dispute(SID, bytes32("reason"), RID);
        // the DSO without naming its request (it made no offer commitment)
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotParty.selector, SID, dso));
        vm.prank(dso);
        market.dispute(SID, bytes32("reason"), bytes32(0));
    }

    function test_dispute_revertsForDsoNamingItsCancelledRequest() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _post(dso2, SID, RID2, BUDGET);
        vm.prank(dso2);
        market.cancelRequest(SID, RID2);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, 100e6);
        _clear(SID, list);
        _attest(SID, new uint128[](1));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNotParty.selector, SID, dso2));
        vm.prank(dso2);
        market.dispute(SID, bytes32("reason"), RID2);
    }

    function test_dispute_byCommittedFspWithoutReservationIsAccepted() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _commit(fsp1, SID);
        _commit(fsp3, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, 100e6);
        _clear(SID, list);
        _attest(SID, new uint128[](1));
        vm.prank(fsp3);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Disputed), "state");
    }

    // ------------------------------------------------------------------ calldata lists

    function _tampered(bytes32 sessionId) internal view returns (IFlexMarket.Reservation[] memory list) {
        list = _resv(sessionId);
        list[0].amount += 1;
    }

    function test_attestDelivery_revertsOnTamperedReservations() public {
        _cleared();
        vm.warp(_deliveryEnd());
        IFlexMarket.Reservation[] memory bad = _tampered(SID);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketReservationsMismatch.selector,
                SID,
                keccak256(abi.encode(_resv(SID))),
                keccak256(abi.encode(bad))
            )
        );
        vm.prank(oracle);
        market.attestDelivery(SID, bytes32(0), bad, _payouts(0, 0));
    }

    function test_finalize_revertsOnTamperedReservations() public {
        _verified();
        _afterWindow();
        IFlexMarket.Reservation[] memory bad = _tampered(SID);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketReservationsMismatch.selector,
                SID,
                keccak256(abi.encode(_resv(SID))),
                keccak256(abi.encode(bad))
            )
        );
        market.finalize(SID, _ids(SID), bad, _paid(SID));
        // dropping a reservation is a different list too
        IFlexMarket.Reservation[] memory shorter = new IFlexMarket.Reservation[](1);
        shorter[0] = _resv(SID)[0];
        vm.expectRevert();
        market.finalize(SID, _ids(SID), shorter, _paid(SID));
    }

    function test_finalize_revertsOnTamperedPayouts() public {
        _verified();
        _afterWindow();
        uint128[] memory more = _payouts(400e6, 300e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketPayoutsMismatch.selector,
                SID,
                keccak256(abi.encode(_paid(SID))),
                keccak256(abi.encode(more))
            )
        );
        market.finalize(SID, _ids(SID), _resv(SID), more);
    }

    function test_finalize_revertsOnIncompleteRequestList() public {
        _verified();
        _afterWindow();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestCountMismatch.selector, SID, 1, 0));
        market.finalize(SID, new bytes32[](0), _resv(SID), _paid(SID));
    }

    function _twoRequestSession() internal {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _post(dso2, SID, RID2, 500e6);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID2, fsp1, 100e6);
        _clear(SID, list);
        uint128[] memory payouts = new uint128[](1);
        payouts[0] = 100e6;
        _attest(SID, payouts);
        _afterWindow();
    }

    function test_finalize_revertsOnReorderedOrDuplicatedRequestIds() public {
        _twoRequestSession();
        bytes32[] memory ids = new bytes32[](2);
        ids[0] = RID2;
        ids[1] = RID;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestListMismatch.selector, SID, 0, RID2));
        market.finalize(SID, ids, _resv(SID), _paid(SID));
        ids[0] = RID;
        ids[1] = RID;
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketRequestListMismatch.selector, SID, 1, RID));
        market.finalize(SID, ids, _resv(SID), _paid(SID));
        ids[1] = keccak256("unknown");
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketRequestListMismatch.selector, SID, 1, keccak256("unknown"))
        );
        market.finalize(SID, ids, _resv(SID), _paid(SID));
        _finalize(SID);
        assertEq(market.credits(dso), BUDGET, "untouched request refunded");
        assertEq(market.credits(dso2), 400e6, "partly used request refunded");
    }

    function test_finalize_revertsOnRequestOfAnotherSession() public {
        bytes32 sid2 = keccak256("session-2");
        _create(sid2);
        _post(dso, sid2, keccak256("other"), BUDGET);
        _verified();
        _afterWindow();
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = keccak256("other"); // index 0 in its own session
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketRequestListMismatch.selector, SID, 0, keccak256("other"))
        );
        market.finalize(SID, ids, _resv(SID), _paid(SID));
    }

    function test_resolve_revertsOnTamperedReservations() public {
        _verified();
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        IFlexMarket.Reservation[] memory bad = _tampered(SID);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFlexMarket.FlexMarketReservationsMismatch.selector,
                SID,
                keccak256(abi.encode(_resv(SID))),
                keccak256(abi.encode(bad))
            )
        );
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), bad, _payouts(401e6, 0));
    }

    function test_postRequest_acceptsBudgetAtUint64Max() public {
        _create(SID);
        _post(dso, SID, RID, type(uint64).max);
        assertEq(market.request(RID).budget, type(uint64).max, "budget");
        assertEq(market.session(SID).budget, type(uint64).max, "session budget");
    }

    function test_resolve_finalizesWithCorrectedPayouts() public {
        _verified();
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        vm.expectEmit(address(market));
        emit IFlexMarket.DisputeResolved(SID, bytes32("corrected"), 700e6, _payouts(400e6, 300e6));
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(400e6, 300e6));
        IFlexMarket.SessionInfo memory s = market.session(SID);
        assertEq(uint8(s.state), uint8(IFlexMarket.State.Final), "final");
        assertEq(s.payoutsHash, keccak256(abi.encode(_payouts(400e6, 300e6))), "payouts hash");
        assertEq(market.credits(fsp1), 400e6, "fsp1");
        assertEq(market.credits(fsp2), 300e6, "fsp2");
        assertEq(market.credits(dso), 300e6, "refund");
    }

    function test_resolve_canLowerPayoutsToZero() public {
        _verified();
        vm.prank(dso);
        market.dispute(SID, bytes32("reason"), RID);
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(0, 0));
        assertEq(market.credits(fsp1), 0, "fsp1");
        assertEq(market.credits(dso), BUDGET, "full refund");
    }

    function test_resolve_revertsWhenPayoutExceedsReservation() public {
        _verified();
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(IFlexMarket.FlexMarketPayoutExceedsReservation.selector, SID, 0, 400e6, 400e6 + 1)
        );
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(400e6 + 1, 0));
    }

    function test_resolve_revertsForNonArbiter() public {
        _verified();
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        vm.expectRevert(_unauthorized(operator, market.ARBITER_ROLE()));
        vm.prank(operator);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(0, 0));
    }

    function test_resolve_revertsWhenNotDisputed() public {
        _verified();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Disputed, IFlexMarket.State.Verified));
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(0, 0));
    }

    // ================================================================== finalize

    function test_finalize_creditsPayoutsAndRefundsRemainder() public {
        _verified();
        _afterWindow();
        vm.expectEmit(address(market));
        emit IFlexMarket.SessionFinalized(SID, 650e6, 350e6);
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        assertEq(uint8(market.session(SID).state), uint8(IFlexMarket.State.Final), "final");
        assertEq(market.credits(fsp1), 350e6, "fsp1");
        assertEq(market.credits(fsp2), 300e6, "fsp2");
        assertEq(market.credits(dso), 350e6, "dso refund");
        assertEq(market.totalEscrowed(), 0, "escrow empty");
        assertEq(market.totalCredited(), BUDGET, "all credited");
    }

    function test_finalize_refundsUntouchedAndPartiallyUsedRequestsSeparately() public {
        _create(SID);
        _post(dso, SID, RID, BUDGET);
        _post(dso2, SID, RID2, 500e6);
        _commit(fsp1, SID);
        _close(SID);
        IFlexMarket.Reservation[] memory list = new IFlexMarket.Reservation[](1);
        list[0] = _res(RID, fsp1, 100e6);
        _clear(SID, list);
        uint128[] memory payouts = new uint128[](1);
        payouts[0] = 60e6;
        _attest(SID, payouts);
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        assertEq(market.credits(dso), BUDGET - 60e6, "partial refund");
        assertEq(market.credits(dso2), 500e6, "untouched request refunded");
        assertEq(market.credits(fsp1), 60e6, "payout");
    }

    function test_finalize_revertsInsideWindow() public {
        _verified();
        uint64 deadline = _deliveryEnd() + WINDOW;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketTooEarly.selector, SID, deadline, deadline - 1));
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    function test_finalize_revertsWhenCalledTwice() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketAlreadyFinalized.selector, SID));
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    function test_finalize_revertsAfterResolve() public {
        _verified();
        vm.prank(fsp1);
        market.dispute(SID, bytes32("reason"), bytes32(0));
        vm.prank(arbiter);
        market.resolve(SID, bytes32("corrected"), _ids(SID), _resv(SID), _payouts(1, 1));
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketAlreadyFinalized.selector, SID));
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    function test_finalize_revertsBeforeAttestation() public {
        _cleared();
        vm.expectRevert(_notInState(SID, IFlexMarket.State.Verified, IFlexMarket.State.Cleared));
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
    }

    // ================================================================== withdraw

    function test_withdraw_paysWholeCreditOnce() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.expectEmit(address(market));
        emit IFlexMarket.Withdrawn(fsp1, fsp1, 350e6);
        vm.prank(fsp1);
        uint256 amount = market.withdraw();
        assertEq(amount, 350e6, "returned");
        assertEq(token.balanceOf(fsp1), 350e6, "paid");
        assertEq(market.credits(fsp1), 0, "credit cleared");
        assertEq(market.totalCredited(), BUDGET - 350e6, "counter");
    }

    function test_withdraw_revertsWhenCalledTwice() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.prank(fsp1);
        market.withdraw();
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNothingToWithdraw.selector, fsp1));
        vm.prank(fsp1);
        market.withdraw();
    }

    function test_withdraw_revertsWithoutCredit() public {
        vm.expectRevert(abi.encodeWithSelector(IFlexMarket.FlexMarketNothingToWithdraw.selector, stranger));
        vm.prank(stranger);
        market.withdraw();
    }

    function test_withdrawTo_paysAnotherAddress() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.prank(dso);
        market.withdrawTo(stranger);
        assertEq(token.balanceOf(stranger), 350e6, "paid to recipient");
        assertEq(market.credits(dso), 0, "credit cleared");
    }

    function test_withdrawTo_revertsOnZeroAddress() public {
        vm.expectRevert(IFlexMarket.FlexMarketZeroAddress.selector);
        vm.prank(dso);
        market.withdrawTo(address(0));
    }

    // ================================================================== full lifecycle

    function test_lifecycle_everyUnitEndsWithItsOwner() public {
        _verified();
        _afterWindow();
        market.finalize(SID, _ids(SID), _resv(SID), _paid(SID));
        vm.prank(fsp1);
        market.withdraw();
        vm.prank(fsp2);
        market.withdraw();
        vm.prank(dso);
        market.withdraw();
        assertEq(token.balanceOf(fsp1) + token.balanceOf(fsp2) + token.balanceOf(dso), BUDGET, "conserved");
        assertEq(token.balanceOf(address(market)), 0, "market empty");
        assertEq(market.totalEscrowed() + market.totalCredited(), 0, "counters empty");
        assertEq(market.totalDeposited(), BUDGET, "deposited");
        assertEq(market.totalWithdrawn(), BUDGET, "withdrawn");
    }
}
