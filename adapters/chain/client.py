"""Web3 client: local-key signing, nonces, simulate-then-send, EIP-1559 fees, named reverts.

Why simulate first: ``eth_estimateGas`` executes the call, so a transaction that would revert
is refused before it costs gas or a nonce, and the revert data is decoded into a named
exception (see ``errors.py``). Nonces come from an allocator (``nonces.py``): in memory, one
lock per key, or shared through a database by every process signing with the key. A
transaction without a receipt after ``stuck_after_s`` is replaced (same nonce, fees bumped
within the caps of ``fees.py``) or re-broadcast if the node forgot it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from adapters.chain.abi_types import abi_type
from adapters.chain.bound import BoundContract
from adapters.chain.errors import register_abi_errors
from adapters.chain.events import EventLogs
from adapters.chain.fees import FeeCaps, Fees, bump, estimate_fees
from adapters.chain.nonces import LocalNonces, NonceAllocator
from adapters.chain.revert import (
    ChainError,
    ContractRevert,
    TransactionDropped,
    TransactionFailed,
)
from adapters.chain.rpc_error import RpcError
from adapters.chain.toolchain import Artifact, compile_contracts, link
from adapters.chain.tx import DecodedEvent, TxResult

_NONCE_ERRORS = ("nonce too low", "nonce too high", "already known", "replacement transaction")

__all__ = ["BoundContract", "ChainClient", "DecodedEvent", "TxResult"]


class ChainClient(EventLogs):
    """A connection to one EVM JSON-RPC endpoint with a set of local signing keys.

    With ``confirmations`` N > 0, views read the block N below the head and a sent
    transaction returns once N blocks sit on it: the caller acts only on confirmed state.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        private_keys: Iterable[str] = (),
        artifacts: Mapping[str, Artifact] | None = None,
        request_timeout_s: float = 30.0,
        receipt_timeout_s: float = 120.0,
        gas_margin: float = 1.2,
        confirmations: int = 0,
        fee_caps: FeeCaps | None = None,
        stuck_after_s: float | None = 30.0,
        max_replacements: int = 5,
        nonces: NonceAllocator | None = None,
    ) -> None:
        if confirmations < 0:
            raise ValueError(f"confirmations: must be >= 0, got {confirmations}")
        self.rpc_url = rpc_url
        self.confirmations = confirmations
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout_s}))
        self.receipt_timeout_s = receipt_timeout_s
        self.gas_margin = gas_margin
        self._artifacts: Mapping[str, Artifact] | None = artifacts
        self._keys: dict[str, LocalAccount] = {}
        self.fee_caps = fee_caps or FeeCaps()
        self.stuck_after_s = stuck_after_s
        self.max_replacements = max_replacements
        self.nonces: NonceAllocator = nonces or LocalNonces()
        self.nonce_retries = 0  # sends the node refused for their nonce (then retried)
        self.replacements = 0  # stuck transactions replaced or re-broadcast
        self._registry_lock = threading.Lock()
        self._events_by_topic: dict[bytes, list[tuple[str, dict[str, Any]]]] = {}
        self._contracts: dict[str, BoundContract] = {}
        self._libraries: dict[str, str] = {}  # linked library name -> deployed address
        self._chain_id: int | None = None
        self._fees: tuple[float, Fees] | None = None
        for key in private_keys:
            self.add_account(key)

    # --- accounts and nonces -----------------------------------------------------------

    def add_account(self, private_key: str | bytes) -> str:
        """Register a signing key; returns its checksum address."""
        account: LocalAccount = Account.from_key(private_key)
        with self._registry_lock:
            self._keys[account.address] = account
        return account.address

    @property
    def accounts(self) -> list[str]:
        return list(self._keys)

    def _account(self, sender: str) -> LocalAccount:
        try:
            return self._keys[to_checksum_address(sender)]
        except KeyError:
            raise ChainError(f"sender {sender}: no local private key registered") from None

    def sign_hash(self, signer: str, digest: bytes) -> bytes:
        """65-byte (r, s, v) signature of a 32-byte digest (EIP-712) by a held key."""
        signed = self._account(signer).unsafe_sign_hash(Hash32(digest))
        return bytes(signed.signature)

    def reset_nonces(self) -> None:
        """Forget cached nonces (e.g. after ``evm_revert``); they are re-read on next send."""
        self.nonces.forget()

    def _node_next_nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", [address, "pending"]), 16)

    # --- raw RPC -----------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call returning ``result``; ChainError with the node's message otherwise."""
        try:
            response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except (OSError, Web3Exception) as exc:  # requests' errors are OSErrors
            raise ChainError(f"{method} at {self.rpc_url}: node unreachable ({exc})") from exc
        if response.get("error"):
            raise RpcError(method, response["error"])
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

    def fees(self) -> Fees:
        """EIP-1559 fees within ``fee_caps`` (re-estimated at most every 2 s)."""
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > 2.0:
            self._fees = (now, estimate_fees(self.rpc, self.fee_caps))
        return self._fees[1]

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
        if block == "latest" and self.confirmations:  # read only what is confirmed
            block = hex(max(0, self.block_number() - self.confirmations))
        try:
            return bytes.fromhex(str(self.rpc("eth_call", [tx, block]))[2:])
        except RpcError as exc:
            raise exc.revert(where) from None

    def estimate_gas(
        self, to: str | None, data: bytes, *, sender: str, value: int = 0, where: str | None = None
    ) -> int:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to:
            tx["to"] = to
        try:
            return int(self.rpc("eth_estimateGas", [tx]), 16)
        except RpcError as exc:
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
        base: dict[str, Any] = {"chainId": self.chain_id, "gas": gas, "value": value, "data": data}
        if to:
            base["to"] = to_checksum_address(to)
        fees = self.fees()
        tx_hash = ""
        with self.nonces.lease(
            self.chain_id, address, lambda: self._node_next_nonce(address)
        ) as lease:
            for attempt in range(3):
                try:
                    tx_hash = self._sign_and_send(account, base, lease.nonce, fees)
                except RpcError as exc:
                    if attempt < 2 and any(m in exc.message.lower() for m in _NONCE_ERRORS):
                        self.nonce_retries += 1
                        lease.nonce = self._node_next_nonce(address)
                        continue
                    if "revert" in exc.message.lower() or exc.data:
                        raise exc.revert(where) from None
                    raise ChainError(f"{where or 'transaction'}: {exc}") from None
                lease.used = True
                break
        tx_hash, receipt = self._await_or_replace(account, base, lease.nonce, fees, tx_hash)
        if self.confirmations:
            receipt = self.wait_for_confirmations(tx_hash, receipt)
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

    def _sign_and_send(
        self, account: LocalAccount, base: dict[str, Any], nonce: int, fees: Fees
    ) -> str:
        signed = account.sign_transaction({**base, "nonce": nonce, **fees.tx_fields()})
        return str(self.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))

    def _await_or_replace(
        self, account: LocalAccount, base: dict[str, Any], nonce: int, fees: Fees, tx_hash: str
    ) -> tuple[str, dict[str, Any]]:
        """The receipt of whichever of our transactions with ``nonce`` is mined.

        Every ``stuck_after_s`` without one: replace it with bumped fees (within the caps), or
        re-broadcast it if the node no longer knows it, at most ``max_replacements`` times.
        """
        hashes = [tx_hash]
        deadline = time.monotonic() + self.receipt_timeout_s
        last_sent = time.monotonic()
        delay = 0.005
        while True:
            for sent in reversed(hashes):
                receipt = self.rpc("eth_getTransactionReceipt", [sent])
                if receipt is not None:
                    return sent, dict(receipt)
            now = time.monotonic()
            if now > deadline:
                raise ChainError(
                    f"transaction {hashes[-1]} (nonce {nonce}): no receipt after "
                    f"{self.receipt_timeout_s} s ({len(hashes) - 1} replacement(s))"
                )
            stuck = self.stuck_after_s is not None and now - last_sent >= self.stuck_after_s
            if stuck and len(hashes) <= self.max_replacements:
                known = any(self.rpc("eth_getTransactionByHash", [h]) for h in hashes)
                bumped = bump(fees, self.fee_caps) if known else fees
                if bumped is not None:
                    try:
                        replacement = self._sign_and_send(account, base, nonce, bumped)
                    except RpcError as exc:
                        if not any(m in exc.message.lower() for m in _NONCE_ERRORS):
                            raise ChainError(f"replacing {hashes[-1]}: {exc}") from None
                        replacement = ""  # ours was mined meanwhile, or is already known
                    if replacement:
                        self.replacements += 1
                        if replacement not in hashes:  # a re-broadcast keeps its hash
                            hashes.append(replacement)
                    fees = bumped
                last_sent = now
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _replay(
        self, to: str | None, data: bytes, sender: str, value: int, block: int, where: str | None
    ) -> ContractRevert | None:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to:
            tx["to"] = to
        try:
            self.rpc("eth_call", [tx, hex(block - 1)])
        except RpcError as exc:
            cause = exc.revert(where)
            return cause if isinstance(cause, ContractRevert) else None
        return None

    def wait_for_receipt(self, tx_hash: str) -> dict[str, Any]:
        """Poll for the receipt; TransactionDropped if the node no longer knows the transaction
        (twice in a row, a second apart: a reorg dropped it, or it was evicted)."""
        deadline = time.monotonic() + self.receipt_timeout_s
        delay = 0.005
        unknown_since: float | None = None
        while True:
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            if delay >= 0.25 and self.rpc("eth_getTransactionByHash", [tx_hash]) is None:
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since >= 1.0:
                    raise TransactionDropped(tx_hash)
            else:
                unknown_since = None
            if time.monotonic() > deadline:
                raise ChainError(
                    f"transaction {tx_hash}: no receipt after {self.receipt_timeout_s} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def wait_for_confirmations(self, tx_hash: str, receipt: dict[str, Any]) -> dict[str, Any]:
        """Wait until ``confirmations`` blocks sit on the receipt's block, then check it again.

        Raises TransactionDropped if a reorg took the transaction out of the chain (the caller
        decides from the chain's state whether to send again); a transaction re-mined in
        another block is followed there.
        """
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            mined_in = int(receipt["blockNumber"], 16)
            while self.block_number() < mined_in + self.confirmations:
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"transaction {tx_hash}: not {self.confirmations} blocks deep after "
                        f"{self.receipt_timeout_s} s"
                    )
                time.sleep(0.05)
            again = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if again is None:
                raise TransactionDropped(tx_hash)
            if again["blockHash"] == receipt["blockHash"]:
                return dict(again)
            receipt = dict(again)  # re-mined elsewhere after a reorg: confirm it there

    # --- contracts ---------------------------------------------------------------------

    @property
    def artifacts(self) -> Mapping[str, Artifact]:
        if self._artifacts is None:
            self._artifacts = compile_contracts()
        return self._artifacts

    def _register_abi(self, name: str, abi: list[dict[str, Any]]) -> None:
        register_abi_errors(abi)
        self._register_events(name, abi)

    def bind(
        self, name: str, address: str, abi: list[dict[str, Any]] | None = None
    ) -> BoundContract:
        """A handle on the deployed contract ``name`` (ABI from the compiled artifacts)."""
        abi = abi if abi is not None else self.artifacts[name].abi
        self._register_abi(name, abi)
        contract = BoundContract(self, name, address, abi)
        self._contracts[contract.address] = contract
        return contract

    def libraries(self, names: set[str], *, sender: str) -> dict[str, str]:
        """Addresses of the linked libraries ``names``, each deployed once per client (a
        library holds no state: any deployment of its code serves every contract)."""
        for name in sorted(names - set(self._libraries)):
            self._libraries[name] = self.deploy(name, sender=sender)[0].address
        return {name: self._libraries[name] for name in names}

    def deploy(self, name: str, *args: Any, sender: str) -> tuple[BoundContract, TxResult]:
        """Deploy artifact ``name`` with constructor ``args``; returns the handle and receipt."""
        artifact = self.artifacts[name]
        ctor = next((i for i in artifact.abi if i.get("type") == "constructor"), None)
        types = [abi_type(i) for i in ctor["inputs"]] if ctor else []
        code = artifact.bytecode
        if artifact.link_references:
            libraries = {lib for lib, _s, _n in artifact.link_references}
            code = link(code, artifact.link_references, self.libraries(libraries, sender=sender))
        data = bytes.fromhex(code[2:]) + (abi_encode(types, list(args)) if types else b"")
        self._register_abi(name, artifact.abi)
        result = self.send(None, data, sender=sender, where=f"{name}.constructor")
        receipt = self.rpc("eth_getTransactionReceipt", [result.tx_hash])
        contract = self.bind(name, receipt["contractAddress"], artifact.abi)
        return contract, result
