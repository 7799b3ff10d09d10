"""Reorgs for the indexer: block hashes, an undo journal, the fork point and the rollback.

Why: on a shared network a block the indexer applied can be replaced. The indexer records the
hash of every block it applied up to (and of every block it took events from) and, before
changing a row for an event, the columns it is about to change. A later sync that finds
another hash at the cursor's height walks its recorded blocks down to the highest one the
chain still has (the fork point), puts back every row changed above it, newest first, and
then applies the new chain's events from there. Sessions whose events were undone are put
back to the state the chain now says, so the worker redoes (once) what the reorg dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, SQLModel, col, delete, select

from adapters.chain.client import ChainClient
from market.store import models as m

log = logging.getLogger(__name__)

#: Blocks of hashes and undo entries kept below the cursor: the deepest reorg undone in place.
REORG_WINDOW = 512
#: Journal table names -> (model, the columns an event may change).
TABLES: dict[str, tuple[type[SQLModel], tuple[str, ...]]] = {
    "participant": (m.Participant, ("roles",)),
    "flex_request": (m.FlexRequestRow, ("cancelled",)),
    "market_session": (
        m.MarketSession,
        ("state", "input_hash", "result_root", "delivery_root"),
    ),
}


class ReorgTooDeep(RuntimeError):
    """The chain replaced blocks below everything the journal still holds: reindex."""


@dataclass(frozen=True)
class Rollback:
    """What one detected reorg did to the store."""

    from_block: int  # the cursor the store had reached
    fork_block: int  # the highest block both chains share
    undone: int  # rows put back
    sessions: tuple[str, ...]  # store ids of the sessions whose events were undone


def block_hash(client: ChainClient, number: int) -> str | None:
    """The canonical hash at ``number`` (None past the head)."""
    block = client.rpc("eth_getBlockByNumber", [hex(number), False])
    return None if block is None else str(block["hash"]).lower()


def record_block(db: Session, stream: str, number: int, hash_: str) -> None:
    row = db.get(m.IndexerBlock, (stream, number))
    if row is None:
        row = m.IndexerBlock(stream=stream, number=number, block_hash=hash_.lower())
    row.block_hash = hash_.lower()
    db.add(row)


def journal(db: Session, stream: str, block: int, table: str, key: str, row: Any) -> None:
    """Record ``row``'s changeable columns (None: the event creates it) before an event."""
    _, columns = TABLES[table]
    before = None if row is None else json.dumps({c: getattr(row, c) for c in columns})
    db.add(
        m.IndexerUndo(stream=stream, block=block, table_name=table, row_key=key, before_json=before)
    )


def find_fork(db: Session, client: ChainClient, stream: str, cursor_block: int) -> int | None:
    """None if the cursor's block is still canonical (or was never recorded), else the fork.

    Raises ReorgTooDeep when no recorded block is canonical any more.
    """
    recorded = db.get(m.IndexerBlock, (stream, cursor_block))
    if recorded is None or block_hash(client, cursor_block) == recorded.block_hash:
        return None
    rows = db.exec(
        select(m.IndexerBlock)
        .where(m.IndexerBlock.stream == stream, m.IndexerBlock.number < cursor_block)
        .order_by(col(m.IndexerBlock.number).desc())
    )
    for row in rows:
        if block_hash(client, row.number) == row.block_hash:
            return row.number
    raise ReorgTooDeep(
        f"indexer: the chain replaced every recorded block up to {cursor_block} (more than "
        f"{REORG_WINDOW} blocks deep); rebuild the store with `flexmarket reindex`"
    )


def roll_back(db: Session, stream: str, fork_block: int) -> tuple[int, set[str]]:
    """Undo every journaled change above ``fork_block``, newest first; forget those blocks.

    Returns how many rows were put back and the session ids among them.
    """
    entries = list(
        db.exec(
            select(m.IndexerUndo)
            .where(m.IndexerUndo.stream == stream, m.IndexerUndo.block > fork_block)
            .order_by(col(m.IndexerUndo.id).desc())
        )
    )
    sessions: set[str] = set()
    for entry in entries:
        model, _ = TABLES[entry.table_name]
        row = db.get(model, entry.row_key)
        if entry.before_json is None:
            if row is not None:
                db.delete(row)
        elif row is not None:
            for column, value in json.loads(entry.before_json).items():
                setattr(row, column, value)
            db.add(row)
        if entry.table_name == "market_session":
            sessions.add(entry.row_key)
        db.delete(entry)
    db.exec(
        delete(m.IndexerBlock).where(
            col(m.IndexerBlock.stream) == stream, col(m.IndexerBlock.number) > fork_block
        )
    )
    return len(entries), sessions


def prune(db: Session, stream: str, below: int) -> None:
    """Forget hashes and undo entries of blocks under ``below`` (too deep to be reorganised)."""
    db.exec(
        delete(m.IndexerBlock).where(
            col(m.IndexerBlock.stream) == stream, col(m.IndexerBlock.number) < below
        )
    )
    db.exec(
        delete(m.IndexerUndo).where(
            col(m.IndexerUndo.stream) == stream, col(m.IndexerUndo.block) < below
        )
    )


#: The chain's session state -> the store state the worker continues from.
_STORE_STATE = {
    "NONE": "PENDING",
    "OPEN": "OPEN",
    "CLOSED": "CLOSED",
    "CLEARED": "CLEARED",
    "VERIFIED": "VERIFIED",
    "DISPUTED": "DISPUTED",
    "FINAL": "FINAL",
}
_ORDER = ["PENDING", "OPEN", "CLOSED", "CLEARED", "DELIVERING", "VERIFIED", "DISPUTED", "FINAL"]


def store_state_after_reorg(store_state: str, chain_state: str) -> str:
    """Where a session goes back to when the chain is now behind the store.

    The store is never moved forward here (the events do that); DELIVERING stays DELIVERING
    while the chain says CLEARED (dispatch is off-chain and was not undone).
    """
    target = _STORE_STATE.get(chain_state, store_state)
    if store_state not in _ORDER or _ORDER.index(target) >= _ORDER.index(store_state):
        return store_state
    if store_state == "DELIVERING" and target == "CLEARED":
        return store_state
    if store_state in ("VERIFIED", "DISPUTED", "FINAL") and target == "CLEARED":
        return "DELIVERING"  # dispatched already: only verification is redone
    return target
