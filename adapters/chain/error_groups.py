"""Friendly groups of contract errors, so callers can write ``except NotAuthorized``.

Why a table rather than one class per error: the error classes themselves are generated from
the compiled ABI (``errors.py``); only the grouping is a judgement a human makes. An error that
is in no group (e.g. a newly added Solidity error) is still decoded, as a plain ContractRevert.
"""

from __future__ import annotations

from adapters.chain.revert import ContractRevert


class NotAuthorized(ContractRevert):
    """The sender lacks the role or relationship the function requires."""


class WrongState(ContractRevert):
    """The session, request or ledger entry is not in the state the function needs."""


class GateClosed(ContractRevert):
    """Too late: gate closure, a deadline or the challenge window has passed."""


class TooEarly(ContractRevert):
    """Too early: the time the function waits for has not come yet."""


class BudgetExceeded(ContractRevert):
    """An amount exceeds its budget, reservation, balance or allowance."""


class NothingToWithdraw(ContractRevert):
    """The caller has no credited balance to withdraw."""


class InvalidArgument(ContractRevert):
    """An argument is malformed (zero, empty, wrong length, duplicate, unknown id)."""


_MEMBERS: dict[type[ContractRevert], tuple[str, ...]] = {
    NotAuthorized: (
        "AccessControlBadConfirmation",
        "AccessControlUnauthorizedAccount",
        "ECDSAInvalidSignature",
        "ECDSAInvalidSignatureLength",
        "ECDSAInvalidSignatureS",
        "ERC2612InvalidSigner",
        "FlexMarketBadWithdrawalSignature",
        "FlexMarketFspNotAuthorized",
        "FlexMarketNettingDebitNotFsp",
        "FlexMarketNotNettingParty",
        "FlexMarketNotParty",
        "FlexMarketNotRegistered",
        "FlexMarketNotFsp",
        "FlexMarketNotRequestOwner",
        "FlexMarketNotStationCpo",
        "NaiveMarketNotDso",
    ),
    WrongState: (
        "FlexMarketAlreadyFinalized",
        "FlexMarketFspNotCommitted",
        "FlexMarketNettingAlreadySettled",
        "FlexMarketNotInState",
        "FlexMarketNotStuck",
        "FlexMarketRequestAlreadyCancelled",
        "FlexMarketRequestExists",
        "FlexMarketSessionExists",
        "FlexMarketStationRegistered",
        "FlexPositionsNonTransferable",
        "NaiveMarketAlreadyPaid",
        "NaiveMarketRequestExists",
        "ReentrancyGuardReentrantCall",
    ),
    GateClosed: ("ERC2612ExpiredSignature", "FlexMarketSignatureExpired", "FlexMarketTooLate"),
    TooEarly: ("FlexMarketTooEarly",),
    BudgetExceeded: (
        "ERC20InsufficientAllowance",
        "ERC20InsufficientBalance",
        "FlexMarketAmountTooLarge",
        "FlexMarketBudgetExceeded",
        "FlexMarketFeeAboveCap",
        "FlexMarketInsufficientCredit",
        "FlexMarketPayoutExceedsReservation",
        "NaiveMarketOverBudget",
        "NaiveMarketOverOffer",
    ),
    NothingToWithdraw: ("FlexMarketNothingToWithdraw",),
    InvalidArgument: (
        "ERC20InvalidApprover",
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "ERC20InvalidSpender",
        "FlexMarketGateClosureNotInFuture",
        "FlexMarketInvalidChallengeWindow",
        "FlexMarketInvalidCommitment",
        "FlexMarketInvalidDeliveryWindow",
        "FlexMarketInvalidFeeCap",
        "FlexMarketInvalidIsp",
        "FlexMarketNettingLengthMismatch",
        "FlexMarketNettingMembersNotSorted",
        "FlexMarketNettingNotBalanced",
        "FlexMarketPayoutCountMismatch",
        "FlexMarketPayoutsMismatch",
        "FlexMarketRequestCountMismatch",
        "FlexMarketRequestListMismatch",
        "FlexMarketRequestNotInSession",
        "FlexMarketReservationsMismatch",
        "FlexMarketTooManyMembers",
        "FlexMarketTooManyParticipants",
        "FlexMarketTooManyRequests",
        "FlexMarketTooManyReservations",
        "FlexMarketTooManyRoles",
        "FlexMarketTooManySessions",
        "FlexMarketUnknownRequest",
        "FlexMarketUnknownRole",
        "FlexMarketZeroAddress",
        "FlexMarketZeroBudget",
        "FlexMarketZeroReservation",
        "FlexPositionsLengthMismatch",
        "FlexPositionsZeroMarket",
        "InvalidAccountNonce",
        "InvalidShortString",
        "NaiveMarketBatchTooLarge",
        "NaiveMarketLengthMismatch",
        "NaiveMarketUnknownRequest",
        "SafeERC20FailedOperation",
        "StringTooLong",
    ),
}

GROUP_OF: dict[str, type[ContractRevert]] = {
    name: group for group, names in _MEMBERS.items() for name in names
}


def group_of(error_name: str) -> type[ContractRevert]:
    """The friendly base class of a Solidity error (ContractRevert if it is in no group)."""
    return GROUP_OF.get(error_name, ContractRevert)
