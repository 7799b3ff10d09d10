"""Named Python exceptions for contract reverts, generated from the compiled ABI.

Why generated: the Solidity sources are the one place an error is declared. The first time a
name is looked up here (``errors.FlexMarketBudgetExceeded``, ``from ... import ...``) or a
selector is not known yet, every ``error`` entry of every compiled contract gets a class
(``type(name, (group,), ...)``), so adding a Solidity error needs no Python edit. A caller can
write ``except BudgetExceeded`` (the friendly groups of ``error_groups.py``) and reads
``FlexMarketBudgetExceeded(requestId=0x12.., budget=4, reserved=5)`` in a log, never a raw
revert blob. Errors of any other ABI bound at runtime get classes the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.chain.abi_types import abi_type
from adapters.chain.error_groups import (
    BudgetExceeded,
    GateClosed,
    InvalidArgument,
    NotAuthorized,
    NothingToWithdraw,
    TooEarly,
    WrongState,
    group_of,
)
from adapters.chain.revert import (
    ROLE_NAMES,
    ChainError,
    ContractRevert,
    Panic,
    RevertWithReason,
    TransactionFailed,
    UnknownRevert,
)
from adapters.chain.types import SessionState

__all__ = [
    "ROLE_NAMES",
    "BudgetExceeded",
    "ChainError",
    "ContractRevert",
    "GateClosed",
    "InvalidArgument",
    "NotAuthorized",
    "NothingToWithdraw",
    "Panic",
    "RevertWithReason",
    "TooEarly",
    "TransactionFailed",
    "UnknownRevert",
    "WrongState",
    "decode_revert",
    "error_class",
    "load_compiled_errors",
    "register_abi_errors",
]

ERRORS_BY_SELECTOR: dict[bytes, type[ContractRevert]] = {}
CLASSES_BY_NAME: dict[str, type[ContractRevert]] = {}
_LOCK = threading.RLock()
_compiled_loaded = False
_compile_failed = False  # decoding never retries a compile that failed

# Arguments shown as enum members (the contract's State enum travels as uint8).
_ENUM_INPUTS: dict[str, dict[str, type[IntEnum]]] = {
    "FlexMarketNotInState": {"expected": SessionState, "actual": SessionState},
}


class _Refinement:
    """A subclass chosen by argument values (``SessionNotOpen`` = NotInState expecting OPEN)."""

    def __init__(self, name: str, doc: str, applies: Callable[[tuple[Any, ...]], bool]) -> None:
        self.name, self.doc, self.applies = name, doc, applies


_REFINEMENTS: dict[str, _Refinement] = {
    "FlexMarketNotInState": _Refinement(
        "SessionNotOpen",
        "``FlexMarketNotInState`` with ``expected == OPEN``: the session no longer takes this.",
        lambda values: bool(values[1] == SessionState.OPEN),
    ),
}


def _register(cls: type[ContractRevert], *, by_selector: bool = True) -> None:
    CLASSES_BY_NAME[cls.__name__] = cls
    if by_selector:
        ERRORS_BY_SELECTOR[cls.selector] = cls


for _builtin in (RevertWithReason, Panic):
    _register(_builtin)
_register(UnknownRevert, by_selector=False)


def _define(name: str, inputs: list[tuple[str, str]]) -> type[ContractRevert]:
    types = tuple(t for _, t in inputs)
    signature = f"{name}({','.join(types)})"
    cls = type(
        name,
        (group_of(name),),
        {
            "__doc__": f"Solidity custom error ``{name}({', '.join(types)})``.",
            "__module__": __name__,
            "__qualname__": name,
            "error_name": name,
            "signature": signature,
            "selector": keccak(text=signature)[:4],
            "input_names": tuple(n for n, _ in inputs),
            "input_types": types,
            "enums": _ENUM_INPUTS.get(name, {}),
        },
    )
    _register(cls)
    refinement = _REFINEMENTS.get(name)
    if refinement is not None:
        sub = type(
            refinement.name,
            (cls,),
            {"__doc__": refinement.doc, "__module__": __name__, "__qualname__": refinement.name},
        )
        _register(sub, by_selector=False)
    return cls


def register_abi_errors(abi: Iterable[Mapping[str, Any]]) -> list[type[ContractRevert]]:
    """Make every ``error`` entry of ``abi`` decodable; returns the classes (new or known)."""
    classes = []
    with _LOCK:
        for item in abi:
            if item.get("type") != "error":
                continue
            inputs = [
                (str(i.get("name") or f"arg{n}"), abi_type(i)) for n, i in enumerate(item["inputs"])
            ]
            signature = f"{item['name']}({','.join(t for _, t in inputs)})"
            known = ERRORS_BY_SELECTOR.get(keccak(text=signature)[:4])
            classes.append(known if known is not None else _define(str(item["name"]), inputs))
    return classes


def load_compiled_errors() -> None:
    """Generate the classes of every error in the project's compiled contracts (once)."""
    global _compiled_loaded
    with _LOCK:
        if _compiled_loaded:
            return
        from adapters.chain.toolchain import compile_contracts

        for artifact in compile_contracts().values():
            register_abi_errors(artifact.abi)
        _compiled_loaded = True


def error_class(name: str) -> type[ContractRevert]:
    """The exception class called ``name`` (a Solidity error name, or a refinement/builtin)."""
    if name not in CLASSES_BY_NAME:
        load_compiled_errors()
    try:
        return CLASSES_BY_NAME[name]
    except KeyError:
        raise AttributeError(f"no contract error named {name!r}") from None


def __getattr__(name: str) -> type[ContractRevert]:
    """``errors.FlexMarketTooLate`` and ``from adapters.chain.errors import ...``."""
    if name.startswith("_"):
        raise AttributeError(name)
    return error_class(name)


def _class_for_selector(selector: bytes) -> type[ContractRevert] | None:
    global _compile_failed
    cls = ERRORS_BY_SELECTOR.get(selector)
    if cls is None and not _compiled_loaded and not _compile_failed:
        try:
            load_compiled_errors()
        except Exception:  # no toolchain here: decode what the bound ABIs registered
            _compile_failed = True
            return None
        cls = ERRORS_BY_SELECTOR.get(selector)
    return cls


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
    cls = _class_for_selector(raw[:4]) if len(raw) >= 4 else None
    if cls is None:
        return UnknownRevert(where=where, raw=raw)
    try:
        decoded = abi_decode(list(cls.input_types), raw[4:]) if cls.input_types else ()
    except (DecodingError, ValueError, OverflowError):
        return UnknownRevert(where=where, raw=raw)
    values = tuple(
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(cls.input_types, decoded, strict=True)
    )
    refinement = _REFINEMENTS.get(cls.error_name)
    if refinement is not None and refinement.applies(values):
        cls = CLASSES_BY_NAME[refinement.name]
    return cls(*values, where=where, raw=raw)
