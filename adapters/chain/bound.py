"""A deployed contract bound to its ABI: encode calls, decode results, named reverts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.chain.abi_types import abi_type
from adapters.chain.revert import ChainError
from adapters.chain.tx import TxResult


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    outputs: tuple[dict[str, Any], ...]
    mutability: str


def _function_table(abi: Iterable[Mapping[str, Any]]) -> dict[str, list[_Function]]:
    table: dict[str, list[_Function]] = {}
    for item in abi:
        if item.get("type") != "function":
            continue
        types = tuple(abi_type(i) for i in item["inputs"])
        fn = _Function(
            name=item["name"],
            selector=keccak(text=f"{item['name']}({','.join(types)})")[:4],
            input_types=types,
            outputs=tuple(item.get("outputs", [])),
            mutability=item.get("stateMutability", "nonpayable"),
        )
        table.setdefault(fn.name, []).append(fn)
    return table


def _shape(item: Mapping[str, Any], value: Any) -> Any:
    """Decoded ABI value -> Python: structs become dicts keyed by component name."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        components = item.get("components", [])
        if kind.endswith("]"):
            inner = {**item, "type": kind[: kind.rindex("[")]}
            return [_shape(inner, v) for v in value]
        return {c["name"]: _shape(c, v) for c, v in zip(components, value, strict=True)}
    if kind == "address":
        return to_checksum_address(value)
    if kind.endswith("]") and kind.startswith("address"):
        return [to_checksum_address(v) for v in value]
    return value


class ContractTransport(Protocol):
    """What a bound contract needs of the client (``ChainClient`` is the one implementation):
    declared here so that the client, which binds contracts, and this module form no cycle."""

    def eth_call(
        self,
        to: str,
        data: bytes,
        *,
        sender: str | None = None,
        block: str = "latest",
        where: str | None = None,
    ) -> bytes: ...

    def send(
        self,
        to: str | None,
        data: bytes,
        *,
        sender: str,
        value: int = 0,
        gas: int | None = None,
        where: str | None = None,
    ) -> TxResult: ...


class BoundContract:
    """A deployed contract: encode calls, decode results, named reverts."""

    def __init__(
        self, client: ContractTransport, name: str, address: str, abi: list[dict[str, Any]]
    ):
        self.client = client
        self.name = name
        self.address = to_checksum_address(address)
        self.abi = abi
        self._functions = _function_table(abi)

    def _fn(self, name: str, args: Sequence[Any]) -> _Function:
        candidates = [f for f in self._functions.get(name, []) if len(f.input_types) == len(args)]
        if len(candidates) != 1:
            raise ChainError(
                f"{self.name}.{name}: no unique function taking {len(args)} arguments "
                f"(have {[f.input_types for f in self._functions.get(name, [])]})"
            )
        return candidates[0]

    def encode(self, name: str, *args: Any) -> bytes:
        fn = self._fn(name, args)
        try:
            return fn.selector + abi_encode(list(fn.input_types), list(args))
        except Exception as exc:  # eth_abi raises several unrelated types; name the function
            raise ChainError(f"{self.name}.{name}{fn.input_types}: bad arguments ({exc})") from exc

    def call(self, name: str, *args: Any, sender: str | None = None, block: str = "latest") -> Any:
        """Run a view (or simulate any function) and return its decoded result."""
        fn = self._fn(name, args)
        raw = self.client.eth_call(
            self.address,
            self.encode(name, *args),
            sender=sender,
            block=block,
            where=f"{self.name}.{name}",
        )
        types = [abi_type(o) for o in fn.outputs]
        values = abi_decode(types, raw) if types else ()
        shaped = [_shape(o, v) for o, v in zip(fn.outputs, values, strict=True)]
        return shaped[0] if len(shaped) == 1 else tuple(shaped)

    def transact(
        self, name: str, *args: Any, sender: str, value: int = 0, gas: int | None = None
    ) -> TxResult:
        """Simulate, sign with ``sender``'s local key, send, wait; named exception on revert."""
        return self.client.send(
            self.address,
            self.encode(name, *args),
            sender=sender,
            value=value,
            gas=gas,
            where=f"{self.name}.{name}",
        )
