"""Web3 client: local-key signing, per-account nonces, simulate-then-send, named reverts.

Why simulate first: ``eth_estimateGas`` executes the call, so a transaction that would revert
is refused before it costs gas or a nonce, and the revert data is decoded into a named
exception (see ``errors.py``). Nonces are tracked locally per account (one lock each) so
several threads can send from different accounts, or the same one, without colliding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import Web3Exception

from adapters.chain.abi_types import abi_type
from adapters.chain.errors import decode_revert, register_abi_errors
from adapters.chain.revert import ChainError, ContractRevert, TransactionFailed
from adapters.chain.toolchain import Artifact, compile_contracts

_NONCE_ERRORS = ("nonce too low", "nonce too high", "already known", "replacement transaction")


@dataclass(frozen=True)
class DecodedEvent:
    """One log decoded with the ABI of the contract that emitted it."""

    name: str
    args: dict[str, Any]
    address: str
    contract: str
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction: hash, gas and the events it emitted."""

    tx_hash: str
    gas_used: int
    block_number: int
    events: tuple[DecodedEvent, ...] = field(default=())

    def events_named(self, name: str) -> list[DecodedEvent]:
        return [e for e in self.events if e.name == name]

    def event(self, name: str) -> DecodedEvent:
        """The first event called ``name``; KeyError naming what was emitted otherwise."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"event {name!r} not emitted (got {[e.name for e in self.events]})")


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


class BoundContract:
    """A deployed contract: encode calls, decode results, named reverts."""

    def __init__(self, client: ChainClient, name: str, address: str, abi: list[dict[str, Any]]):
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


class ChainClient:
    """A connection to one EVM JSON-RPC endpoint with a set of local signing keys."""

    def __init__(
        self,
        rpc_url: str,
        *,
        private_keys: Iterable[str] = (),
        artifacts: Mapping[str, Artifact] | None = None,
        request_timeout_s: float = 30.0,
        receipt_timeout_s: float = 120.0,
        gas_margin: float = 1.2,
    ) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout_s}))
        self.receipt_timeout_s = receipt_timeout_s
        self.gas_margin = gas_margin
        self._artifacts: Mapping[str, Artifact] | None = artifacts
        self._keys: dict[str, LocalAccount] = {}
        self._nonces: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._registry_lock = threading.Lock()
        self._events_by_topic: dict[bytes, list[tuple[str, dict[str, Any]]]] = {}
        self._contracts: dict[str, BoundContract] = {}
        self._chain_id: int | None = None
        self._gas_price: tuple[float, int] | None = None
        for key in private_keys:
            self.add_account(key)

    # --- accounts and nonces -----------------------------------------------------------

    def add_account(self, private_key: str | bytes) -> str:
        """Register a signing key; returns its checksum address."""
        account: LocalAccount = Account.from_key(private_key)
        with self._registry_lock:
            self._keys[account.address] = account
            self._locks.setdefault(account.address, threading.Lock())
        return account.address

    @property
    def accounts(self) -> list[str]:
        return list(self._keys)

    def _account(self, sender: str) -> LocalAccount:
        try:
            return self._keys[to_checksum_address(sender)]
        except KeyError:
            raise ChainError(f"sender {sender}: no local private key registered") from None

    def reset_nonces(self) -> None:
        """Forget cached nonces (e.g. after ``evm_revert``); they are re-read on next send."""
        with self._registry_lock:
            self._nonces.clear()

    def _resync_nonce(self, address: str) -> int:
        nonce = int(self.rpc("eth_getTransactionCount", [address, "pending"]), 16)
        self._nonces[address] = nonce
        return nonce

    # --- raw RPC -----------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call returning ``result``; ChainError with the node's message otherwise."""
        try:
            response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except (OSError, Web3Exception) as exc:  # requests' errors are OSErrors
            raise ChainError(f"{method} at {self.rpc_url}: node unreachable ({exc})") from exc
        if response.get("error"):
            raise _RpcError(method, response["error"])
        return response.get("result")

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.rpc("eth_chainId", []), 16)
        return self._chain_id

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber", []), 16)

    def block_timestamp(self, block: str | int = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
        return int(self.rpc("eth_getBlockByNumber", [tag, False])["timestamp"], 16)

    def balance(self, address: str) -> int:
        return int(self.rpc("eth_getBalance", [address, "latest"]), 16)

    def _price(self) -> int:
        now = time.monotonic()
        if self._gas_price is None or now - self._gas_price[0] > 5.0:
            self._gas_price = (now, int(self.rpc("eth_gasPrice", []), 16) * 2)
        return self._gas_price[1]

    # --- calls and transactions --------------------------------------------------------

    def eth_call(
        self,
        to: str,
        data: bytes,
        *,
        sender: str | None = None,
        block: str = "latest",
        where: str | None = None,
    ) -> bytes:
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        try:
            return bytes.fromhex(str(self.rpc("eth_call", [tx, block]))[2:])
        except _RpcError as exc:
            raise exc.revert(where) from None

    def estimate_gas(
        self, to: str | None, data: bytes, *, sender: str, value: int = 0, where: str | None = None
    ) -> int:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to:
            tx["to"] = to
        try:
            return int(self.rpc("eth_estimateGas", [tx]), 16)
        except _RpcError as exc:
            raise exc.revert(where) from None

    def send(
        self,
        to: str | None,
        data: bytes,
        *,
        sender: str,
        value: int = 0,
        gas: int | None = None,
        where: str | None = None,
    ) -> TxResult:
        """Simulate (gas estimate; skipped if ``gas`` is given), sign, send, await receipt."""
        account = self._account(sender)
        address = account.address
        if gas is None:
            estimate = self.estimate_gas(to, data, sender=address, value=value, where=where)
            gas = int(estimate * self.gas_margin) + 10_000
        tx_hash = ""
        for attempt in range(3):
            with self._locks[address]:
                nonce = self._nonces.get(address)
                if nonce is None:
                    nonce = self._resync_nonce(address)
                tx: dict[str, Any] = {
                    "chainId": self.chain_id,
                    "nonce": nonce,
                    "gas": gas,
                    "gasPrice": self._price(),
                    "value": value,
                    "data": data,
                }
                if to:
                    tx["to"] = to_checksum_address(to)
                signed = account.sign_transaction(tx)
                try:
                    tx_hash = str(
                        self.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
                    )
                except _RpcError as exc:
                    if attempt < 2 and any(m in exc.message.lower() for m in _NONCE_ERRORS):
                        self._resync_nonce(address)
                        continue
                    if "revert" in exc.message.lower() or exc.data:
                        raise exc.revert(where) from None
                    raise ChainError(f"{where or 'transaction'}: {exc}") from None
                self._nonces[address] = nonce + 1
                break
        receipt = self.wait_for_receipt(tx_hash)
        gas_used = int(receipt["gasUsed"], 16)
        block_number = int(receipt["blockNumber"], 16)
        if int(receipt["status"], 16) != 1:
            cause = self._replay(to, data, address, value, block_number, where)
            raise TransactionFailed(tx_hash, gas_used, cause)
        return TxResult(
            tx_hash=tx_hash,
            gas_used=gas_used,
            block_number=block_number,
            events=tuple(self.decode_logs(receipt["logs"])),
        )

    def _replay(
        self, to: str | None, data: bytes, sender: str, value: int, block: int, where: str | None
    ) -> ContractRevert | None:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to:
            tx["to"] = to
        try:
            self.rpc("eth_call", [tx, hex(block - 1)])
        except _RpcError as exc:
            cause = exc.revert(where)
            return cause if isinstance(cause, ContractRevert) else None
        return None

    def wait_for_receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.receipt_timeout_s
        delay = 0.005
        while True:
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise ChainError(
                    f"transaction {tx_hash}: no receipt after {self.receipt_timeout_s} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    # --- contracts ---------------------------------------------------------------------

    @property
    def artifacts(self) -> Mapping[str, Artifact]:
        if self._artifacts is None:
            self._artifacts = compile_contracts()
        return self._artifacts

    def _register_abi(self, name: str, abi: list[dict[str, Any]]) -> None:
        register_abi_errors(abi)
        for item in abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            types = ",".join(abi_type(i) for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            entries = self._events_by_topic.setdefault(topic, [])
            if all(existing is not item for _, existing in entries):
                entries.append((name, item))

    def bind(
        self, name: str, address: str, abi: list[dict[str, Any]] | None = None
    ) -> BoundContract:
        """A handle on the deployed contract ``name`` (ABI from the compiled artifacts)."""
        abi = abi if abi is not None else self.artifacts[name].abi
        self._register_abi(name, abi)
        contract = BoundContract(self, name, address, abi)
        self._contracts[contract.address] = contract
        return contract

    def deploy(self, name: str, *args: Any, sender: str) -> tuple[BoundContract, TxResult]:
        """Deploy artifact ``name`` with constructor ``args``; returns the handle and receipt."""
        artifact = self.artifacts[name]
        ctor = next((i for i in artifact.abi if i.get("type") == "constructor"), None)
        types = [abi_type(i) for i in ctor["inputs"]] if ctor else []
        data = bytes.fromhex(artifact.bytecode[2:]) + (
            abi_encode(types, list(args)) if types else b""
        )
        self._register_abi(name, artifact.abi)
        result = self.send(None, data, sender=sender, where=f"{name}.constructor")
        receipt = self.rpc("eth_getTransactionReceipt", [result.tx_hash])
        contract = self.bind(name, receipt["contractAddress"], artifact.abi)
        return contract, result

    # --- events --------------------------------------------------------------------------

    def decode_logs(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedEvent]:
        """Decode logs of registered ABIs (others are skipped)."""
        decoded = []
        for log in logs:
            topics = [
                bytes.fromhex(str(t)[2:]) if isinstance(t, str) else bytes(t) for t in log["topics"]
            ]
            if not topics:
                continue
            address = to_checksum_address(log["address"])
            candidates = self._events_by_topic.get(topics[0], [])
            bound = self._contracts.get(address)
            if bound is not None:  # prefer the emitting contract's own ABI
                candidates = sorted(candidates, key=lambda c: c[0] != bound.name)
            for contract_name, event_abi in candidates:
                indexed = sum(1 for i in event_abi["inputs"] if i.get("indexed"))
                if indexed != len(topics) - 1:
                    continue
                entry = {
                    "address": address,
                    "topics": topics,
                    "data": bytes.fromhex(str(log["data"])[2:])
                    if isinstance(log["data"], str)
                    else log["data"],
                    "blockNumber": _int(log["blockNumber"]),
                    "transactionHash": log["transactionHash"],
                    "transactionIndex": _int(log.get("transactionIndex", 0)),
                    "blockHash": log.get("blockHash"),
                    "logIndex": _int(log["logIndex"]),
                }
                data = get_event_data(self.w3.codec, event_abi, entry)
                decoded.append(
                    DecodedEvent(
                        name=event_abi["name"],
                        args={k: _plain(v) for k, v in data["args"].items()},
                        address=address,
                        contract=bound.name if bound else contract_name,
                        block_number=entry["blockNumber"],
                        tx_hash=_hex(log["transactionHash"]),
                        log_index=entry["logIndex"],
                    )
                )
                break
        return decoded

    def get_events(
        self,
        name: str,
        from_block: int,
        to_block: int | None = None,
        *,
        step: int = 2000,
        address: str | Sequence[str] | None = None,
        topics: Sequence[Any] | None = None,
    ) -> list[DecodedEvent]:
        """Events called ``name`` from registered contracts, read in ranges of ``step`` blocks.

        ``topics`` optionally filters indexed arguments (topic1.., as 0x-hex or None).
        """
        if step < 1:
            raise ValueError(f"step: must be >= 1, got {step}")
        event_topics = [
            t
            for t, entries in self._events_by_topic.items()
            if any(e["name"] == name for _, e in entries)
        ]
        if not event_topics:
            raise ChainError(f"event {name!r}: not in any registered contract ABI")
        if address is None:
            addresses = list(self._contracts)
        else:
            addresses = [address] if isinstance(address, str) else list(address)
        last = self.block_number() if to_block is None else to_block
        found: list[DecodedEvent] = []
        start = from_block
        while start <= last:
            end = min(start + step - 1, last)
            params = {
                "fromBlock": hex(start),
                "toBlock": hex(end),
                "address": [to_checksum_address(a) for a in addresses],
                "topics": [["0x" + t.hex() for t in event_topics], *(topics or [])],
            }
            found.extend(
                e for e in self.decode_logs(self.rpc("eth_getLogs", [params])) if e.name == name
            )
            start = end + 1
        return found


class _RpcError(ChainError):
    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        if isinstance(error, dict):
            self.message = str(error.get("message", ""))
            self.code = error.get("code")
            self.data = error.get("data")
        else:
            self.message, self.code, self.data = str(error), None, None
        super().__init__(f"{method}: {self.message}")

    def revert(self, where: str | None) -> ChainError:
        """The named revert if the node returned revert data, else this RPC error."""
        data = self.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return decode_revert(data, where=where)
        if "revert" in self.message.lower():
            return decode_revert(b"", where=where)
        return ChainError(f"{where or self.method}: {self.message}")


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return bytes(value)
    return value
