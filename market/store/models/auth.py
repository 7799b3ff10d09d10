"""Sign-in state shared by every API process: one-time SIWE nonces and revoked session tokens.

Why in the store: a nonce must be consumed once across all processes on one database, and a
signed-out token must be refused by every process, so neither can live in process memory.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from market.store.models.fields import big


def _expiry_column() -> Column[int]:
    """Unix seconds, indexed: expired rows are purged by range."""
    return Column(BigInteger, nullable=False, index=True)


class AuthNonce(SQLModel, table=True):
    """A nonce handed out by ``GET /auth/nonce``; ``consumed_at`` is set by the one sign-in."""

    __tablename__ = "auth_nonce"

    nonce: str = SqlField(primary_key=True, max_length=64)
    expires_at: int = SqlField(default=0, sa_column=_expiry_column())
    consumed_at: int | None = SqlField(default=None, sa_column=big(nullable=True))


class RevokedToken(SQLModel, table=True):
    """A session token signed out before its expiry (kept until then, then purged)."""

    __tablename__ = "auth_revoked_token"

    jti: str = SqlField(primary_key=True, max_length=64)
    expires_at: int = SqlField(default=0, sa_column=_expiry_column())
