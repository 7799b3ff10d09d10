"""Base exceptions of the chain adapter and the built-in Solidity reverts (Error, Panic).

The named class per custom error is generated from the compiled ABI in ``errors.py``; this
module holds what every one of them shares: the message format, field access by the
Solidity argument name, and pickling by class reference.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from eth_utils.crypto import keccak

from adapters.chain.types import MARKET_ROLE_NAMES


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


class TransactionDropped(ChainError):
    """A mined transaction is no longer in the chain: a reorg removed it before it was final."""

    def __init__(self, tx_hash: str) -> None:
        self.tx_hash = tx_hash
        super().__init__(f"transaction {tx_hash} was mined, then dropped by a reorg")


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
        names = self.input_names or _positional(len(values))
        values = tuple(
            self.enums[name](v) if name in self.enums else v
            for name, v in zip(names, values, strict=False)
        )
        self.values = values
        self.fields: dict[str, Any] = dict(zip(names, values, strict=False))
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
        # The class pickles by reference: a generated class resolves through the module
        # ``__getattr__`` of ``adapters.chain.errors``, which regenerates it from the ABI.
        return (_rebuild, (type(self), self.values, self.where, self.raw))


def _rebuild(
    cls: type[ContractRevert], values: tuple[Any, ...], where: str | None, raw: bytes
) -> ContractRevert:
    return cls(*values, where=where, raw=raw)


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
    keccak(text=name): name for name in (*MARKET_ROLE_NAMES, "MINTER_ROLE", "MARKET_ROLE")
}


class RevertWithReason(ContractRevert):
    """``revert("...")`` / ``require(cond, "...")`` (the ``Error(string)`` ABI)."""

    error_name = "Error"
    signature = "Error(string)"
    selector = keccak(text="Error(string)")[:4]
    input_names = ("reason",)
    input_types = ("string",)


class Panic(ContractRevert):
    """Solidity ``Panic(uint256)``: assertion, overflow, division by zero, bad array index."""

    error_name = "Panic"
    signature = "Panic(uint256)"
    selector = keccak(text="Panic(uint256)")[:4]
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
