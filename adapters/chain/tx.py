"""Results of calls into the chain: a mined transaction and the events it emitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    block_hash: str = ""  # of the block it was read in: a reorg replaces it


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
