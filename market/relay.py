"""The commitment relay: FSPs post their EIP-712-signed commitments to the service, the
lifecycle worker sends them on-chain in ``commitOffersBySig`` batches before gate closure.

Why: one transaction per FSP costs ~125 700 gas; a relayed batch ~99 800 per extra FSP, and the
FSP needs no gas money. The operator cannot alter a relayed commitment (the contract recovers
the FSP from the signature over the session id and all four values) and cannot commit twice
(the contract's once-per-FSP bit); the worst it can do is not relay, which the FSP detects
before gate closure and repairs by committing itself (``Participant.ensure_committed``).

Crash safety: a batch is sent under the worker's session lock; every stored commitment is
checked against the chain's committed bit before it is batched, so a batch mined before its
record was written is recognised (status ONCHAIN) and never re-sent.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from adapters.chain.commitment_sig import SignedCommitment, commitment_digest, compact
from clearing.encoding import uuid_to_bytes32
from market.auth.eip712 import recover
from market.errors import Conflict, GateClosed, NotFound, RoleRequired, WrongSessionState
from market.ledger import Ledger
from market.store import models as m

__all__ = ["accept_commitment", "close_relay", "pending_count", "relay_pending"]

FIELDS = ("offers_root", "offer_count", "prognosis_hash", "portfolio_hash")


def _b32(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def digest_of(ledger: Ledger, session_id: str, body: m.CommitmentCreate) -> bytes:
    """The EIP-712 digest the contract recomputes for this commitment."""
    return commitment_digest(
        ledger.chain_id,
        ledger.market_address,
        uuid_to_bytes32(session_id),
        _b32(body.offers_root),
        body.offer_count,
        _b32(body.prognosis_hash),
        _b32(body.portfolio_hash),
    )


def accept_commitment(
    *,
    engine: Engine,
    ledger: Ledger,
    roles_of: Callable[[str], set[str] | frozenset[str]],
    now: int,
    session_id: str,
    body: m.CommitmentCreate,
) -> tuple[bool, m.CommitmentPublic]:
    """Verify and store one signed commitment; returns (created, stored).

    Refuses (naming the field) an unknown session, one not OPEN or past gate closure, a
    signature that does not recover to an FSP, and a second, different commitment of the same
    FSP; the identical one again is answered with the stored row (idempotent)."""
    with Session(engine) as db:
        s = db.get(m.MarketSession, session_id)
    if s is None:
        raise NotFound(f"no session {session_id}", field="session_id")
    if s.state != "OPEN":
        raise WrongSessionState(f"session is {s.state}, not OPEN", field="session_id")
    if now >= s.gate_closure:
        raise GateClosed(
            f"gate closure {s.gate_closure} has passed (now {now})", field="session_id"
        )
    signer = recover(digest_of(ledger, session_id, body), body.signature)
    if "FSP" not in roles_of(signer):
        raise RoleRequired(
            f"the signature recovers to {signer}, which does not hold FSP_ROLE "
            "(signed for another session, market or values?)",
            field="signature",
        )
    with Session(engine) as db:
        held = db.get(m.RelayCommitment, (session_id, signer))
        if held is not None:
            for name in (*FIELDS, "signature"):
                if str(getattr(held, name)).lower() != str(getattr(body, name)).lower():
                    raise Conflict(
                        f"{signer} already posted a different commitment for this session "
                        f"({name} {getattr(held, name)})",
                        field=name,
                    )
            return False, m.CommitmentPublic.from_row(held)
        row = m.RelayCommitment(
            session_id=session_id,
            fsp=signer,
            offers_root=body.offers_root.lower(),
            offer_count=body.offer_count,
            prognosis_hash=body.prognosis_hash.lower(),
            portfolio_hash=body.portfolio_hash.lower(),
            signature=body.signature.lower(),
            received_at=now,
        )
        db.add(row)
        db.commit()
        db.refresh(row)
        return True, m.CommitmentPublic.from_row(row)


def pending_count(engine: Engine, session_id: str) -> int:
    with Session(engine) as db:
        return len(_pending(db, session_id))


def _pending(db: Session, session_id: str) -> list[m.RelayCommitment]:
    q = (
        select(m.RelayCommitment)
        .where(m.RelayCommitment.session_id == session_id, m.RelayCommitment.status == "PENDING")
        .order_by(col(m.RelayCommitment.received_at), col(m.RelayCommitment.fsp))
    )
    return list(db.exec(q))


def _signed(row: m.RelayCommitment) -> SignedCommitment:
    r, vs = compact(_b32(row.signature))
    return SignedCommitment(
        _b32(row.offers_root),
        _b32(row.prognosis_hash),
        _b32(row.portfolio_hash),
        row.offer_count,
        r,
        vs,
    )


def _set(engine: Engine, rows: list[m.RelayCommitment], status: str, tx: str | None) -> None:
    with Session(engine) as db:
        for r in rows:
            held = db.get(m.RelayCommitment, (r.session_id, r.fsp))
            if held is not None:
                held.status, held.relay_tx = status, tx
                db.add(held)
        db.commit()


def relay_pending(
    *,
    engine: Engine,
    ledger: Ledger,
    session_id: str,
    crash_point: Callable[[str], None] = lambda _name: None,
) -> str:
    """Send every PENDING commitment of the session on-chain, in batches of at most the
    contract's cap; call under the session's lock, before gate closure. Returns a detail."""
    with Session(engine) as db:
        rows = _pending(db, session_id)
    if not rows:
        return "nothing to relay"
    sid = uuid_to_bytes32(session_id)
    already = [r for r in rows if ledger.market.has_committed(sid, r.fsp)]
    _set(engine, already, "ONCHAIN", None)
    done = {r.fsp for r in already}
    todo = [r for r in rows if r.fsp not in done]
    cap = ledger.market.max_commitments_per_batch()
    txs = []
    for i in range(0, len(todo), cap):
        batch = todo[i : i + cap]
        tx = ledger.relay_commitments(session_id, [_signed(r) for r in batch])
        crash_point("relay:after_tx")
        _set(engine, batch, "RELAYED", tx.tx_hash)
        txs.append(tx.tx_hash)
    return (
        f"{len(todo)} relayed in {len(txs)} commitOffersBySig tx ({', '.join(txs)}); "
        f"{len(already)} already on-chain"
    )


def close_relay(*, engine: Engine, ledger: Ledger, session_id: str) -> int:
    """At gate closure: commitments never relayed become ONCHAIN (the FSP committed itself) or
    MISSED; returns how many were missed."""
    with Session(engine) as db:
        rows = _pending(db, session_id)
    sid = uuid_to_bytes32(session_id)
    onchain: list[m.RelayCommitment] = []
    missed: list[m.RelayCommitment] = []
    for r in rows:
        (onchain if ledger.market.has_committed(sid, r.fsp) else missed).append(r)
    _set(engine, onchain, "ONCHAIN", None)
    _set(engine, missed, "MISSED", None)
    return len(missed)
