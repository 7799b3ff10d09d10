"""Event logs: register event ABIs, decode logs, and read events in bounded block ranges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3._utils.events import get_event_data

from adapters.chain.abi_types import abi_type
from adapters.chain.revert import ChainError
from adapters.chain.tx import DecodedEvent

if TYPE_CHECKING:
    from web3 import Web3

    from adapters.chain.bound import BoundContract


class EventLogs:
    """Mixin of ChainClient: the event ABIs of every bound contract, and log queries."""

    w3: Web3
    _events_by_topic: dict[bytes, list[tuple[str, dict[str, Any]]]]
    _contracts: dict[str, BoundContract]

    def rpc(self, method: str, params: list[Any]) -> Any:
        raise NotImplementedError

    def block_number(self) -> int:
        raise NotImplementedError

    def _register_events(self, name: str, abi: list[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            types = ",".join(abi_type(i) for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            entries = self._events_by_topic.setdefault(topic, [])
            if all(existing is not item for _, existing in entries):
                entries.append((name, item))

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
                        block_hash=_hex(log["blockHash"]) if log.get("blockHash") else "",
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
