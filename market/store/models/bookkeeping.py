"""Tables the service keeps for itself: message log, worker progress and locks, bundles,
indexer cursors. None of them has a create or public shape: no route reads them as such."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from market.store.models.fields import big


class MessageLog(SQLModel, table=True):
    """Every accepted signed message, for idempotent replays by message id."""

    __tablename__ = "message_log"

    message_id: str = SqlField(primary_key=True, max_length=64)
    signer: str = SqlField(max_length=42)
    kind: str = SqlField(max_length=32)
    body_hash: str = SqlField(max_length=66)
    status_code: int = 201
    response_json: str = SqlField(sa_column=Column(Text, nullable=False))
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


class LifecycleStep(SQLModel, table=True):
    """Progress of one worker step of one session; the row doubles as its lock."""

    __tablename__ = "lifecycle_step"

    session_id: str = SqlField(primary_key=True, max_length=36)
    step: str = SqlField(primary_key=True, max_length=32)
    status: str = "PENDING"
    worker_id: str = ""
    tx_hash: str | None = None
    detail: str = ""
    updated_at: int = SqlField(default=0, sa_column=big(nullable=False))


class BundleRecord(SQLModel, table=True):
    """A published bundle: its keccak256 and the file it lives in (bytes kept too)."""

    __tablename__ = "bundle"

    session_id: str = SqlField(primary_key=True, max_length=36)
    kind: str = SqlField(primary_key=True, max_length=16)
    keccak: str = SqlField(max_length=66)
    content: bytes = SqlField(sa_column=Column(LargeBinary, nullable=False))


class IndexerCursor(SQLModel, table=True):
    """Last chain block the indexer has applied, per event stream."""

    __tablename__ = "indexer_cursor"

    name: str = SqlField(primary_key=True, max_length=32)
    block: int = SqlField(default=0, sa_column=big(nullable=False))


class IndexerBlock(SQLModel, table=True):
    """A block the indexer applied up to, or took events from, with its hash.

    Why: a reorg shows as another hash at the cursor's height, and the highest stored block
    whose hash the chain still has is the fork point the store is rolled back to.
    """

    __tablename__ = "indexer_block"

    stream: str = SqlField(primary_key=True, max_length=32)
    number: int = SqlField(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    block_hash: str = SqlField(max_length=66)


class IndexerUndo(SQLModel, table=True):
    """What one applied event changed in one row (its columns before), so a reorg undoes it.

    ``before_json`` is null when the event created the row: undoing it deletes the row.
    """

    __tablename__ = "indexer_undo"

    id: int | None = SqlField(default=None, primary_key=True)
    stream: str = SqlField(max_length=32)
    block: int = SqlField(sa_column=big(nullable=False))
    table_name: str = SqlField(max_length=32)
    row_key: str = SqlField(max_length=66)
    before_json: str | None = SqlField(default=None, sa_column=Column(Text, nullable=True))


class ChainNonce(SQLModel, table=True):
    """The next nonce of one signing key on one chain, shared by every process signing with it.

    Why in the database: workers on several machines that sign with one key must not pick the
    same nonce; the row is locked (``SELECT ... FOR UPDATE``) while a nonce is taken and sent.
    """

    __tablename__ = "chain_nonce"

    chain_id: int = SqlField(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    address: str = SqlField(primary_key=True, max_length=42)
    next_nonce: int = SqlField(default=0, sa_column=big(nullable=False))


class WorkerLock(SQLModel, table=True):
    """Lease rows so that only one worker performs a session step at a time."""

    __tablename__ = "worker_lock"

    name: str = SqlField(primary_key=True, max_length=80)
    holder: str = ""
    expires_at: float = 0.0
