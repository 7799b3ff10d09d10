"""One-time SIWE nonces and revoked session tokens, kept in the market store.

Why in the database: several API processes share one PostgreSQL, so a nonce handed out by one
process must be consumable exactly once by any of them, and a signed-out token must be refused
by all. Consumption is one conditional UPDATE whose row count decides the race.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from market.errors import MessageExpired, Unauthenticated
from market.store.models.auth import AuthNonce, RevokedToken

NONCE_TTL_S = 600


class SignInStore:
    """Issues, consumes and purges nonces; records and checks revoked token ids."""

    def __init__(self, engine: Engine, *, nonce_ttl_s: int = NONCE_TTL_S) -> None:
        self.engine = engine
        self.nonce_ttl_s = nonce_ttl_s

    def new_nonce(self, now_s: float) -> str:
        """A fresh random nonce, valid for ``nonce_ttl_s``; expired rows are purged first."""
        nonce = secrets.token_hex(16)
        with Session(self.engine) as session:
            self._purge(session, int(now_s))
            session.add(AuthNonce(nonce=nonce, expires_at=int(now_s) + self.nonce_ttl_s))
            session.commit()
        return nonce

    def consume_nonce(self, nonce: str, now_s: float) -> None:
        """Mark ``nonce`` used; raises unless this call is the one that used it."""
        now = int(now_s)
        with Session(self.engine) as session:
            result = session.execute(
                update(AuthNonce)
                .where(
                    col(AuthNonce.nonce) == nonce,
                    col(AuthNonce.consumed_at).is_(None),
                    col(AuthNonce.expires_at) > now,
                )
                .values(consumed_at=now)
            )
            session.commit()
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return
            row = session.get(AuthNonce, nonce)
        if row is None:
            raise Unauthenticated("nonce was not issued by this market", field="message.nonce")
        if row.consumed_at is not None:
            raise Unauthenticated("nonce was already used; fetch a new one", field="message.nonce")
        raise MessageExpired("nonce is too old; fetch a new one", field="message.nonce")

    def revoke(self, jti: str, expires_at_s: int) -> None:
        """Refuse the token ``jti`` from now on (idempotent)."""
        with Session(self.engine) as session:
            if session.get(RevokedToken, jti) is not None:
                return
            session.add(RevokedToken(jti=jti, expires_at=expires_at_s))
            try:
                session.commit()
            except IntegrityError:  # another process revoked it at the same time
                session.rollback()

    def is_revoked(self, jti: str) -> bool:
        with Session(self.engine) as session:
            return session.get(RevokedToken, jti) is not None

    @staticmethod
    def _purge(session: Session, now: int) -> None:
        """Delete expired nonces and revocations of tokens that have expired anyway."""
        session.execute(delete(AuthNonce).where(col(AuthNonce.expires_at) <= now))
        session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) <= now))
