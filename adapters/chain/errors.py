"""Named Python exceptions for contract reverts, decoded from the custom-error selector.

Why: a caller should be able to write ``except BudgetExceeded`` and read
``FlexMarketReservationExceedsBudget(requestId=0x12.., reserved=5, budget=4)`` in a log,
never a raw revert blob. One class exists per Solidity custom error of our contracts and the
OpenZeppelin parts they use (the ``@_error`` classes below); errors of any other ABI registered at
runtime get a class generated on the fly. A few friendly base classes group them
(``NotAuthorized``, ``SessionNotOpen``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from adapters.chain.types import SessionState

# --- bases ---------------------------------------------------------------------------------


class ChainError(Exception):
    """Base of everything the chain adapter raises."""


class TransactionFailed(ChainError):
    """A mined transaction has status 0 (it passed simulation but reverted on-chain)."""

    def __init__(self, tx_hash: str, gas_used: int, cause: ContractRevert | None = None) -> None:
        self.tx_hash = tx_hash
        self.gas_used = gas_used
        self.cause = cause
        reason = f": {cause}" if cause else ""
        super().__init__(f"transaction {tx_hash} reverted on-chain (gas used {gas_used}){reason}")


class ContractRevert(ChainError):
    """A contract call reverted; subclasses name the custom error and carry its arguments."""

    error_name: ClassVar[str] = "ContractRevert"
    signature: ClassVar[str] = ""
    selector: ClassVar[bytes] = b""
    input_names: ClassVar[tuple[str, ...]] = ()
    input_types: ClassVar[tuple[str, ...]] = ()
    enums: ClassVar[dict[str, type[IntEnum]]] = {}

    def __init__(
        self,
        *values: Any,
        where: str | None = None,
        raw: bytes = b"",
    ) -> None:
        values = tuple(
            self.enums[name](v) if name in self.enums else v
            for name, v in zip(self.input_names or _positional(len(values)), values, strict=False)
        )
        self.values = values
        self.fields: dict[str, Any] = dict(
            zip(self.input_names or _positional(len(values)), values, strict=False)
        )
        self.where = where
        self.raw = raw
        super().__init__(self._message())

    def _message(self) -> str:
        shown = ", ".join(f"{name}={_show(value)}" for name, value in self.fields.items())
        where = f" in {self.where}" if self.where else ""
        return f"{self.error_name}({shown}){where}"

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self).error_name, self.values, self.where, self.raw))


def _rebuild(name: str, values: tuple[Any, ...], where: str | None, raw: bytes) -> ContractRevert:
    return ERRORS_BY_NAME.get(name, ContractRevert)(*values, where=where, raw=raw)


def _positional(count: int) -> list[str]:
    return [f"arg{i}" for i in range(count)]


def _show(value: Any) -> str:
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, bytes):
        role = ROLE_NAMES.get(value)
        return f"{role}(0x{value.hex()[:8]}..)" if role else "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


# Role ids are keccak256 of the role's name (the admin role is zero); shown by name.
ROLE_NAMES: dict[bytes, str] = {b"\x00" * 32: "DEFAULT_ADMIN_ROLE"} | {
    keccak(text=name): name
    for name in (
        "MARKET_OPERATOR_ROLE",
        "DSO_ROLE",
        "FSP_ROLE",
        "METER_ORACLE_ROLE",
        "ARBITER_ROLE",
        "CLEARING_HOUSE_ROLE",
        "MINTER_ROLE",
        "MARKET_ROLE",
    )
}


# Friendly groups. A decoded error is an instance of its own class and of its group.
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


class RevertWithReason(ContractRevert):
    """``revert("...")`` / ``require(cond, "...")`` (the ``Error(string)`` ABI)."""

    error_name = "Error"
    signature = "Error(string)"
    input_names = ("reason",)
    input_types = ("string",)


class Panic(ContractRevert):
    """Solidity ``Panic(uint256)``: assertion, overflow, division by zero, bad array index."""

    error_name = "Panic"
    signature = "Panic(uint256)"
    input_names = ("code",)
    input_types = ("uint256",)
    CODES: ClassVar[dict[int, str]] = {
        0x01: "assert failed",
        0x11: "arithmetic overflow or underflow",
        0x12: "division or modulo by zero",
        0x21: "invalid enum value",
        0x22: "invalid storage byte array",
        0x31: "pop on empty array",
        0x32: "array index out of bounds",
        0x41: "out of memory",
        0x51: "call to invalid internal function",
    }

    def _message(self) -> str:
        code = int(self.fields.get("code", 0))
        return f"Panic(code=0x{code:02x}: {self.CODES.get(code, 'unknown panic')})" + (
            f" in {self.where}" if self.where else ""
        )


class UnknownRevert(ContractRevert):
    """A revert whose selector matches no known ABI error (the selector is named, not hidden)."""

    error_name = "UnknownRevert"

    def _message(self) -> str:
        where = f" in {self.where}" if self.where else ""
        if not self.raw:
            return f"reverted without data{where}"
        return f"reverted with an unknown error (selector 0x{self.raw[:4].hex()}){where}"


# --- registry ------------------------------------------------------------------------------

ERRORS_BY_NAME: dict[str, type[ContractRevert]] = {}
ERRORS_BY_SELECTOR: dict[bytes, type[ContractRevert]] = {}


def _register(cls: type[ContractRevert]) -> None:
    cls.selector = keccak(text=cls.signature)[:4]
    ERRORS_BY_NAME[cls.error_name] = cls
    ERRORS_BY_SELECTOR[cls.selector] = cls


def _abi_type(item: Mapping[str, Any]) -> str:
    """Canonical ABI type of one input, expanding tuples (structs) recursively."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _define(
    name: str,
    inputs: Sequence[tuple[str, str]],
    bases: tuple[type[ContractRevert], ...] = (),
) -> type[ContractRevert]:
    types = tuple(t for _, t in inputs)
    cls = type(
        name,
        (*bases, ContractRevert) if ContractRevert not in bases else bases,
        {
            "__doc__": f"Solidity custom error ``{name}({', '.join(types)})``.",
            "__module__": __name__,
            "error_name": name,
            "signature": f"{name}({','.join(types)})",
            "input_names": tuple(n for n, _ in inputs),
            "input_types": types,
        },
    )
    _register(cls)
    return cls


def register_abi_errors(abi: Iterable[Mapping[str, Any]]) -> list[type[ContractRevert]]:
    """Make every ``error`` entry of ``abi`` decodable; returns the classes (new or known)."""
    classes = []
    for item in abi:
        if item.get("type") != "error":
            continue
        inputs = [
            (str(i.get("name") or f"arg{n}"), _abi_type(i)) for n, i in enumerate(item["inputs"])
        ]
        signature = f"{item['name']}({','.join(t for _, t in inputs)})"
        selector = keccak(text=signature)[:4]
        known = ERRORS_BY_SELECTOR.get(selector)
        if known is None:
            known = _define(str(item["name"]), inputs)
        classes.append(known)
    return classes


def decode_revert(data: bytes | str | None, *, where: str | None = None) -> ContractRevert:
    """The named exception for revert ``data`` (bytes or 0x-hex); never raises itself."""
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return UnknownRevert(where=where, raw=data.encode())
    else:
        raw = bytes(data or b"")
    cls = ERRORS_BY_SELECTOR.get(raw[:4]) if len(raw) >= 4 else None
    if cls is None:
        return UnknownRevert(where=where, raw=raw)
    try:
        values = abi_decode(list(cls.input_types), raw[4:]) if cls.input_types else ()
    except (DecodingError, ValueError, OverflowError):
        return UnknownRevert(where=where, raw=raw)
    values = tuple(
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(cls.input_types, values, strict=True)
    )
    refiner = _REFINERS.get(cls.error_name)
    refined: type[ContractRevert] = refiner(tuple(values)) if refiner else cls
    return refined(*values, where=where, raw=raw)


# --- the contracts' own errors -------------------------------------------------------------
# One class per custom error (generated from the compiled ABIs; a unit test checks none is
# missing). The base class is the friendly group the error belongs to.


def _error(**inputs: str) -> Any:
    """Class decorator: set the Solidity signature from keyword ``name=abi_type`` pairs."""

    def apply(cls: type[ContractRevert]) -> type[ContractRevert]:
        cls.error_name = cls.__name__
        cls.input_names = tuple(inputs)
        cls.input_types = tuple(inputs.values())
        cls.signature = f"{cls.__name__}({','.join(cls.input_types)})"
        cls.__doc__ = f"Solidity custom error ``{cls.signature}``."
        _register(cls)
        return cls

    return apply


# FlexMarket (contracts/interfaces/IFlexMarket.sol)


@_error(sessionId="bytes32")
class FlexMarketAlreadyFinalized(WrongState):
    pass


@_error(amount="uint256", max="uint256")
class FlexMarketAmountTooLarge(BudgetExceeded):
    pass


@_error(requestId="bytes32", budget="uint256", reserved="uint256")
class FlexMarketBudgetExceeded(BudgetExceeded):
    pass


@_error(sessionId="bytes32", fsp="address")
class FlexMarketFspNotAuthorized(NotAuthorized):
    pass


@_error(sessionId="bytes32", fsp="address")
class FlexMarketFspNotCommitted(WrongState):
    pass


@_error(gateClosure="uint64", now_="uint64")
class FlexMarketGateClosureNotInFuture(InvalidArgument):
    pass


@_error(account="address", credit="uint256", debit="uint256")
class FlexMarketInsufficientCredit(BudgetExceeded):
    pass


@_error(challengeWindow="uint32", max="uint32")
class FlexMarketInvalidChallengeWindow(InvalidArgument):
    pass


@_error(sessionId="bytes32", offersRoot="bytes32", offerCount="uint32")
class FlexMarketInvalidCommitment(InvalidArgument):
    pass


@_error(gateClosure="uint64", deliveryStart="uint64", deliveryEnd="uint64")
class FlexMarketInvalidDeliveryWindow(InvalidArgument):
    pass


@_error(ispSeconds="uint32", windowSeconds="uint64")
class FlexMarketInvalidIsp(InvalidArgument):
    pass


@_error(periodId="bytes32")
class FlexMarketNettingAlreadySettled(WrongState):
    pass


@_error(members="uint256", amounts="uint256")
class FlexMarketNettingLengthMismatch(InvalidArgument):
    pass


@_error(periodId="bytes32", sum="int256", fee="uint256")
class FlexMarketNettingNotBalanced(InvalidArgument):
    pass


@_error(sessionId="bytes32", expected="uint8", actual="uint8")
class FlexMarketNotInState(WrongState):
    pass


@_error(sessionId="bytes32", caller="address")
class FlexMarketNotParty(NotAuthorized):
    pass


@_error(account="address")
class FlexMarketNotRegistered(NotAuthorized):
    pass


@_error(requestId="bytes32", caller="address")
class FlexMarketNotRequestOwner(NotAuthorized):
    pass


@_error(account="address")
class FlexMarketNothingToWithdraw(NothingToWithdraw):
    pass


@_error(sessionId="bytes32", expected="uint256", actual="uint256")
class FlexMarketPayoutCountMismatch(InvalidArgument):
    pass


@_error(sessionId="bytes32", index="uint256", reserved="uint256", payout="uint256")
class FlexMarketPayoutExceedsReservation(BudgetExceeded):
    pass


@_error(requestId="bytes32")
class FlexMarketRequestAlreadyCancelled(WrongState):
    pass


@_error(requestId="bytes32")
class FlexMarketRequestExists(WrongState):
    pass


@_error(sessionId="bytes32", requestId="bytes32")
class FlexMarketRequestNotInSession(InvalidArgument):
    pass


@_error(sessionId="bytes32")
class FlexMarketSessionExists(WrongState):
    pass


@_error(sessionId="bytes32", notBefore="uint64", now_="uint64")
class FlexMarketTooEarly(TooEarly):
    pass


@_error(sessionId="bytes32", deadline="uint64", now_="uint64")
class FlexMarketTooLate(GateClosed):
    pass


@_error(count="uint256", max="uint256")
class FlexMarketTooManyMembers(InvalidArgument):
    pass


@_error(max="uint256")
class FlexMarketTooManySessions(InvalidArgument):
    pass


@_error(max="uint256")
class FlexMarketTooManyParticipants(InvalidArgument):
    pass


@_error(sessionId="bytes32", max="uint256")
class FlexMarketTooManyRequests(InvalidArgument):
    pass


@_error(sessionId="bytes32", count="uint256", max="uint256")
class FlexMarketTooManyReservations(InvalidArgument):
    pass


@_error(count="uint256", max="uint256")
class FlexMarketTooManyRoles(InvalidArgument):
    pass


@_error(requestId="bytes32")
class FlexMarketUnknownRequest(InvalidArgument):
    pass


@_error(role="bytes32")
class FlexMarketUnknownRole(InvalidArgument):
    pass


@_error()
class FlexMarketZeroAddress(InvalidArgument):
    pass


@_error(requestId="bytes32")
class FlexMarketZeroBudget(InvalidArgument):
    pass


@_error(requestId="bytes32", fsp="address")
class FlexMarketZeroReservation(InvalidArgument):
    pass


@_error(sessionId="bytes32", expected="bytes32", actual="bytes32")
class FlexMarketReservationsMismatch(InvalidArgument):
    pass


@_error(sessionId="bytes32", expected="bytes32", actual="bytes32")
class FlexMarketPayoutsMismatch(InvalidArgument):
    pass


@_error(sessionId="bytes32", index="uint256", requestId="bytes32")
class FlexMarketRequestListMismatch(InvalidArgument):
    pass


@_error(sessionId="bytes32", expected="uint256", actual="uint256")
class FlexMarketRequestCountMismatch(InvalidArgument):
    pass


# FlexPositions


@_error(accounts="uint256", ids="uint256", values="uint256")
class FlexPositionsLengthMismatch(InvalidArgument):
    pass


@_error()
class FlexPositionsZeroMarket(InvalidArgument):
    pass


@_error()
class FlexPositionsNonTransferable(WrongState):
    pass


# OpenZeppelin errors our contracts can raise


@_error(account="address", neededRole="bytes32")
class AccessControlUnauthorizedAccount(NotAuthorized):
    pass


@_error()
class AccessControlBadConfirmation(NotAuthorized):
    pass


@_error(sender="address", balance="uint256", needed="uint256")
class ERC20InsufficientBalance(BudgetExceeded):
    pass


@_error(sender="address")
class ERC20InvalidSender(InvalidArgument):
    pass


@_error(receiver="address")
class ERC20InvalidReceiver(InvalidArgument):
    pass


@_error(spender="address", allowance="uint256", needed="uint256")
class ERC20InsufficientAllowance(BudgetExceeded):
    pass


@_error(approver="address")
class ERC20InvalidApprover(InvalidArgument):
    pass


@_error(spender="address")
class ERC20InvalidSpender(InvalidArgument):
    pass


@_error(deadline="uint256")
class ERC2612ExpiredSignature(GateClosed):
    pass


@_error(signer="address", owner="address")
class ERC2612InvalidSigner(NotAuthorized):
    pass


@_error(account="address", currentNonce="uint256")
class InvalidAccountNonce(InvalidArgument):
    pass


@_error()
class ECDSAInvalidSignature(NotAuthorized):
    pass


@_error(length="uint256")
class ECDSAInvalidSignatureLength(NotAuthorized):
    pass


@_error(s="bytes32")
class ECDSAInvalidSignatureS(NotAuthorized):
    pass


@_error()
class InvalidShortString(InvalidArgument):
    pass


@_error(str="string")
class StringTooLong(InvalidArgument):
    pass


@_error(token="address")
class SafeERC20FailedOperation(InvalidArgument):
    pass


@_error()
class ReentrancyGuardReentrantCall(WrongState):
    pass


@_error(sender="address", balance="uint256", needed="uint256", tokenId="uint256")
class ERC1155InsufficientBalance(BudgetExceeded):
    pass


@_error(operator="address", owner="address")
class ERC1155MissingApprovalForAll(NotAuthorized):
    pass


# NaiveMarket (benchmark baseline)


@_error(offerId="uint256")
class NaiveMarketAlreadyPaid(WrongState):
    pass


@_error(size="uint256", max="uint256")
class NaiveMarketBatchTooLarge(InvalidArgument):
    pass


@_error(ids="uint256", amounts="uint256")
class NaiveMarketLengthMismatch(InvalidArgument):
    pass


@_error(requestId="bytes32", caller="address")
class NaiveMarketNotDso(NotAuthorized):
    pass


@_error(requestId="bytes32", spent="uint256", budget="uint256")
class NaiveMarketOverBudget(BudgetExceeded):
    pass


@_error(offerId="uint256", amount="uint256", maxPayment="uint256")
class NaiveMarketOverOffer(BudgetExceeded):
    pass


@_error(requestId="bytes32")
class NaiveMarketRequestExists(WrongState):
    pass


@_error(requestId="bytes32")
class NaiveMarketUnknownRequest(InvalidArgument):
    pass


class SessionNotOpen(FlexMarketNotInState):
    """``FlexMarketNotInState`` with ``expected == OPEN``: the session no longer takes this."""


FlexMarketNotInState.enums = {"expected": SessionState, "actual": SessionState}
_REFINERS: dict[str, Callable[[tuple[Any, ...]], type[ContractRevert]]] = {
    "FlexMarketNotInState": lambda values: (
        SessionNotOpen if values[1] == SessionState.OPEN else FlexMarketNotInState
    ),
}
for _cls in (RevertWithReason, Panic):
    _register(_cls)
