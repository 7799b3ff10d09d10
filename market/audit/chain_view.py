"""What the chain says about a market: sessions, requests, commitments, reservations, money.

Events are read once, for the market address only, in bounded block ranges (``step`` blocks per
``eth_getLogs``), then grouped per session; views (``session``, ``request``,
``offerCommitment``, ``reservations``, totals, token balance) give the current state; block
timestamps come from the blocks that hold lifecycle events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.chain.client import ChainClient, DecodedEvent
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.revert import ChainError
from adapters.chain.session_view import (
    SESSION_EVENTS,
    ChainRequest,
    ChainSession,
    SessionRoots,
)
from adapters.chain.token import SettlementTokenContract
from adapters.chain.types import OfferCommitment, Reservation, SessionState
from market.audit.findings import AuditCannotRun


@dataclass
class AuditedSession:
    """One session as the auditor gathers it: the stored view plus its events and lists.

    Ids are raw bytes32, addresses checksummed.
    """

    session_id: bytes
    chain: ChainSession
    roots: SessionRoots
    events: list[DecodedEvent] = field(default_factory=list)
    requests: dict[bytes, ChainRequest] = field(default_factory=dict)
    posted_budgets: dict[bytes, int] = field(default_factory=dict)  # from RequestPosted
    request_order: list[bytes] = field(default_factory=list)
    commitments: dict[str, OfferCommitment] = field(default_factory=dict)  # fsp lower-case
    reservations: list[Reservation] = field(default_factory=list)
    payouts: list[int] = field(default_factory=list)
    credits: list[DecodedEvent] = field(default_factory=list)  # Credited with ref = session
    resolved_by: str = ""  # the account that sent ``resolve`` (lower-case), if any
    stuck_deadline: int = 0  # when a pending step is overdue (refundStuck opens); 0: none pending

    def named(self, name: str) -> list[DecodedEvent]:
        return [e for e in self.events if e.name == name]

    @property
    def resolved(self) -> bool:
        """An arbiter resolved a dispute: the chain's delivery root and payouts are its."""
        return bool(self.named("DisputeResolved"))

    def attested(self) -> tuple[bytes, list[int]]:
        """The oracle's delivery root and payouts (DeliveryAttested), even after a dispute."""
        found = self.named("DeliveryAttested")
        if not found:
            return self.roots.delivery_root, list(self.payouts)
        args = found[-1].args
        return bytes(args["deliveryRoot"]), [int(p) for p in args["payouts"]]


#: States in which a step is still due, so the session can become stuck.
_PENDING_STATES = (
    SessionState.OPEN,
    SessionState.CLOSED,
    SessionState.CLEARED,
    SessionState.DISPUTED,
)

SETTLE_NETTING_TYPES = ("bytes32", "address[]", "int256[]", "uint256", "address")
SETTLE_NETTING_SELECTOR = keccak(text=f"settleNetting({','.join(SETTLE_NETTING_TYPES)})")[:4]


@dataclass
class NettingInput:
    """The arguments of one ``settleNetting`` call, decoded from its transaction input."""

    period_id: bytes
    members: list[str]  # lower-case
    net_amounts: list[int]
    fee: int
    fee_recipient: str  # lower-case


def net_positions(
    members: Sequence[str], amounts: Sequence[int], fee: int, fee_recipient: str
) -> dict[str, int]:
    """Each account's net change in a netting: its amounts, plus the fee for the recipient
    (accounts whose change is zero left out)."""
    out: dict[str, int] = defaultdict(int)
    for member, amount in zip(members, amounts, strict=False):
        out[member] += amount
    if fee:
        out[fee_recipient] += fee
    return {k: v for k, v in out.items() if v}


def netting_txs(events: list[DecodedEvent]) -> dict[str, bytes]:
    """tx hash -> period id of every ``NettingSettled``.

    A session's netting period id can equal its session id (``netting_period_id`` of a session
    UUID), so ``ref`` alone cannot tell a netting credit from a finalization credit; the
    transaction that emitted it can (``settleNetting`` and ``finalize`` are separate calls).
    """
    return {e.tx_hash: bytes(e.args["periodId"]) for e in events if e.name == "NettingSettled"}


def is_netting_entry(e: DecodedEvent, txs: dict[str, bytes]) -> bool:
    """A Credited/Debited (or ReceivableRecorded) emitted by ``settleNetting`` for its own
    period."""
    ref = {"Credited": "ref", "Debited": "ref", "ReceivableRecorded": "periodId"}.get(e.name)
    return ref is not None and e.tx_hash in txs and bytes(e.args[ref]) == txs[e.tx_hash]


def decode_settle_netting(data: str | bytes) -> NettingInput | None:
    """Decode ``settleNetting`` calldata; None when the input is another call (e.g. a wallet)."""
    raw = (
        bytes.fromhex(data[2:] if data.startswith("0x") else data)
        if isinstance(data, str)
        else data
    )
    if raw[:4] != SETTLE_NETTING_SELECTOR:
        return None
    period, members, amounts, fee, recipient = abi_decode(list(SETTLE_NETTING_TYPES), raw[4:])
    return NettingInput(
        period_id=bytes(period),
        members=[str(m).lower() for m in members],
        net_amounts=[int(x) for x in amounts],
        fee=int(fee),
        fee_recipient=str(recipient).lower(),
    )


@dataclass
class ChainView:
    client: ChainClient
    market: FlexMarketContract
    token_address: str
    from_block: int
    to_block: int
    events: list[DecodedEvent]
    sessions: dict[bytes, AuditedSession]
    block_ts: dict[int, int]
    token_balance: int
    total_escrowed: int
    total_credited: int
    netting_inputs: dict[str, NettingInput] = field(default_factory=dict)  # by tx hash
    now: int = 0  # timestamp of ``to_block``: what "overdue" is measured against

    def ts(self, event: DecodedEvent) -> int:
        return self.block_ts[event.block_number]


def connect(
    rpc_url: str, market_address: str, *, timeout_s: float = 30.0
) -> tuple[ChainClient, FlexMarketContract]:
    """A read-only client bound to the market; AuditCannotRun when node or contract is absent."""
    from adapters.chain.toolchain import compile_contracts

    client = ChainClient(rpc_url, artifacts=compile_contracts(), request_timeout_s=timeout_s)
    try:
        address = to_checksum_address(market_address)
    except ValueError as exc:
        raise AuditCannotRun(f"--market {market_address!r}: not an address") from exc
    try:
        code = client.rpc("eth_getCode", [address, "latest"])
    except ChainError as exc:
        raise AuditCannotRun(f"RPC {rpc_url} unreachable: {exc}") from exc
    if not code or code in ("0x", "0x0"):
        raise AuditCannotRun(f"--market {address}: no contract deployed at this address")
    return client, FlexMarketContract(client, address)


def read_chain(
    client: ChainClient,
    market: FlexMarketContract,
    *,
    from_block: int = 0,
    to_block: int | None = None,
    step: int = 2000,
    only: bytes | None = None,
) -> ChainView:
    """Read every market event in [from_block, to_block] and the views of each session."""
    try:
        last = client.block_number() if to_block is None else to_block
        events = _market_logs(client, market.address, from_block, last, step)
        token_address = market.token()
        token = SettlementTokenContract(client, token_address)
        balance = token.balance_of(market.address)
        escrowed, credited = market.total_escrowed(), market.total_credited()
        ids = [bytes(e.args["sessionId"]) for e in events if e.name == "SessionCreated"]
        if only is not None:
            ids = [i for i in ids if i == only] or [only]
        sessions: dict[bytes, AuditedSession] = {}
        for sid in ids:
            stored = market.session(sid)
            if stored.state == SessionState.NONE:
                raise AuditCannotRun(f"session 0x{sid.hex()}: unknown to the market contract")
            roots = market.session_roots(sid, stored)
            sessions[sid] = AuditedSession(session_id=sid, chain=stored, roots=roots)
        by_session: dict[bytes, AuditedSession] = sessions
        nets = netting_txs(events)
        for e in events:
            if e.name in SESSION_EVENTS:
                s = by_session.get(bytes(e.args["sessionId"]))
                if s is not None:
                    s.events.append(e)
            elif e.name == "Credited" and not is_netting_entry(e, nets):
                s = by_session.get(bytes(e.args["ref"]))
                if s is not None:
                    s.credits.append(e)
        for s in sessions.values():
            for e in s.named("RequestPosted"):
                rid = bytes(e.args["requestId"])
                s.request_order.append(rid)
                s.posted_budgets[rid] = int(e.args["budget"])
                s.requests[rid] = market.request(rid)
            for e in s.named("OffersCommitted"):
                fsp = str(e.args["fsp"])
                s.commitments[fsp.lower()] = market.offer_commitment(s.session_id, fsp)
            if s.chain.state >= SessionState.CLEARED:
                s.reservations, s.payouts = market.reservations(s.session_id)
            for e in s.named("DisputeResolved")[-1:]:
                tx = client.rpc("eth_getTransactionByHash", [e.tx_hash])
                s.resolved_by = str((tx or {}).get("from", "")).lower()
            if s.chain.state in _PENDING_STATES:
                s.stuck_deadline = market.stuck_deadline(s.session_id)
        now = client.block_timestamp(last)
        blocks = {e.block_number for e in events if e.name in SESSION_EVENTS}
        block_ts = {b: client.block_timestamp(b) for b in sorted(blocks)}
        netting_inputs: dict[str, NettingInput] = {}
        for tx_hash in nets:
            tx = client.rpc("eth_getTransactionByHash", [tx_hash])
            decoded = decode_settle_netting(str(tx.get("input", "0x"))) if tx else None
            if decoded is not None:
                netting_inputs[tx_hash] = decoded
    except ChainError as exc:
        raise AuditCannotRun(f"reading the chain at {client.rpc_url} failed: {exc}") from exc
    return ChainView(
        client=client,
        market=market,
        token_address=token_address,
        from_block=from_block,
        to_block=last,
        events=events,
        sessions=sessions,
        block_ts=block_ts,
        token_balance=balance,
        total_escrowed=escrowed,
        total_credited=credited,
        netting_inputs=netting_inputs,
        now=now,
    )


def _market_logs(
    client: ChainClient, address: str, from_block: int, to_block: int, step: int
) -> list[DecodedEvent]:
    """All logs of ``address`` decoded with its ABI, ``step`` blocks per request."""
    if step < 1:
        raise ValueError(f"step: must be >= 1, got {step}")
    found: list[DecodedEvent] = []
    start = from_block
    while start <= to_block:
        end = min(start + step - 1, to_block)
        params = {"fromBlock": hex(start), "toBlock": hex(end), "address": address}
        found.extend(client.decode_logs(client.rpc("eth_getLogs", [params])))
        start = end + 1
    found.sort(key=lambda e: (e.block_number, e.log_index))
    return found


def credited_by_account(events: list[DecodedEvent]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for e in events:
        totals[str(e.args["account"]).lower()] += int(e.args["amount"])
    return dict(totals)
