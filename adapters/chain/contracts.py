"""Typed wrappers: one Python method per contract function.

Conventions: bytes32 values are ``bytes`` (32 long), amounts are ``int`` token minor units,
times are ``int`` Unix seconds, addresses are checksum ``str``. Every state-changing method
takes a keyword-only ``sender`` (an address whose key the client holds), simulates first
(so a revert raises the named exception from ``errors.py``) and returns a ``TxResult``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from adapters.chain.client import BoundContract, ChainClient, DecodedEvent, TxResult
from adapters.chain.errors import ChainError
from adapters.chain.types import (
    OfferCommitment,
    RequestInfo,
    Reservation,
    SessionInfo,
)


class _Wrapper:
    NAME: ClassVar[str] = ""

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.contract: BoundContract = client.bind(self.NAME, address)

    @property
    def address(self) -> str:
        return self.contract.address

    def _tx(self, fn: str, *args: Any, sender: str) -> TxResult:
        return self.contract.transact(fn, *args, sender=sender)

    def _call(self, fn: str, *args: Any) -> Any:
        return self.contract.call(fn, *args)

    # AccessControl (all three contracts inherit it)
    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self._call("hasRole", role, account))

    def get_role_admin(self, role: bytes) -> bytes:
        return bytes(self._call("getRoleAdmin", role))

    def grant_role(self, role: bytes, account: str, *, sender: str) -> TxResult:
        return self._tx("grantRole", role, account, sender=sender)

    def revoke_role(self, role: bytes, account: str, *, sender: str) -> TxResult:
        return self._tx("revokeRole", role, account, sender=sender)

    def renounce_role(self, role: bytes, caller_confirmation: str, *, sender: str) -> TxResult:
        return self._tx("renounceRole", role, caller_confirmation, sender=sender)

    def supports_interface(self, interface_id: bytes) -> bool:
        return bool(self._call("supportsInterface", interface_id))


class SettlementTokenContract(_Wrapper):
    """fEUR: ERC-20 with 6 decimals, EIP-2612 permit and MINTER_ROLE-restricted minting."""

    NAME = "SettlementToken"

    @cached_property
    def MINTER_ROLE(self) -> bytes:
        return bytes(self._call("MINTER_ROLE"))

    def name(self) -> str:
        return str(self._call("name"))

    def symbol(self) -> str:
        return str(self._call("symbol"))

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", owner, spender))

    def nonces(self, owner: str) -> int:
        return int(self._call("nonces", owner))

    def domain_separator(self) -> bytes:
        return bytes(self._call("DOMAIN_SEPARATOR"))

    def transfer(self, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("transfer", to, amount, sender=sender)

    def approve(self, spender: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("approve", spender, amount, sender=sender)

    def transfer_from(self, owner: str, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("transferFrom", owner, to, amount, sender=sender)

    def mint(self, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("mint", to, amount, sender=sender)

    def permit(
        self,
        owner: str,
        spender: str,
        value: int,
        deadline: int,
        v: int,
        r: bytes,
        s: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx("permit", owner, spender, value, deadline, v, r, s, sender=sender)

    def sign_permit(
        self, owner_key: str, spender: str, value: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """EIP-2612 signature (v, r, s) by ``owner_key`` letting ``spender`` pull ``value``."""
        owner = Account.from_key(owner_key).address
        domain = {
            "name": self.name(),
            "version": "1",
            "chainId": self.client.chain_id,
            "verifyingContract": self.address,
        }
        types = {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        }
        message = {
            "owner": owner,
            "spender": spender,
            "value": value,
            "nonce": self.nonces(owner),
            "deadline": deadline,
        }
        signable = encode_typed_data(domain_data=domain, message_types=types, message_data=message)
        signed = Account.sign_message(signable, owner_key)
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


ZERO32 = bytes(32)
RESERVATION_LIST_ABI = "(bytes32,address,uint128)[]"
LOG_STEP = 50_000


def _topic(value: bytes | str) -> str:
    """An indexed bytes32 or address argument as a log topic (0x-hex, 32 bytes)."""
    if isinstance(value, str):
        return "0x" + value.lower().removeprefix("0x").rjust(64, "0")
    return "0x" + bytes(value).rjust(32, b"\0").hex()


def reservations_hash(reservations: Sequence[Reservation]) -> bytes:
    """keccak256(abi.encode(reservations)), as FlexMarket stores it."""
    return keccak(abi_encode([RESERVATION_LIST_ABI], [[r.as_abi() for r in reservations]]))


def payouts_hash(payouts: Sequence[int]) -> bytes:
    """keccak256(abi.encode(payouts)), as FlexMarket stores it."""
    return keccak(abi_encode(["uint128[]"], [list(payouts)]))


def _reservation(row: Any) -> Reservation:
    if isinstance(row, dict):
        return Reservation(request_id=bytes(row["requestId"]), fsp=row["fsp"], amount=row["amount"])
    request_id, fsp, amount = row
    return Reservation(request_id=bytes(request_id), fsp=fsp, amount=int(amount))


class FlexMarketContract(_Wrapper):
    """Sessions, escrow, offer commitments, clearing, attestation, disputes and the ledger.

    The contract stores lists (a session's request ids, reservations, payouts) only as hashes
    and publishes them in indexed events. The views below rebuild them from those events
    (``eth_getLogs`` filtered by the indexed session id), check them against the stored
    hashes, and the transactions that need them (attest, resolve, finalize) pass them back.
    """

    NAME = "FlexMarket"
    ROLE_NAMES: ClassVar[tuple[str, ...]] = (
        "MARKET_OPERATOR_ROLE",
        "DSO_ROLE",
        "FSP_ROLE",
        "METER_ORACLE_ROLE",
        "ARBITER_ROLE",
        "CLEARING_HOUSE_ROLE",
    )

    @cached_property
    def roles(self) -> dict[str, bytes]:
        """Role ids read from the contract, by constant name (plus DEFAULT_ADMIN_ROLE)."""
        read = {name: bytes(self._call(name)) for name in self.ROLE_NAMES}
        return {"DEFAULT_ADMIN_ROLE": b"\x00" * 32, **read}

    def role(self, name: str) -> bytes:
        """Role id by name, with or without the ``_ROLE`` suffix (``"DSO"`` or ``"DSO_ROLE"``)."""
        key = name if name.endswith("_ROLE") else f"{name}_ROLE"
        try:
            return self.roles[key]
        except KeyError:
            raise ValueError(f"role: unknown {name!r} (known: {sorted(self.roles)})") from None

    @cached_property
    def deploy_block(self) -> int:
        """Block the market was deployed in: where event scans start."""
        return int(self._call("deployBlock"))

    def _events(self, name: str, *topics: bytes | str | None) -> list[DecodedEvent]:
        """The market's ``name`` events filtered by indexed arguments, in chain order."""
        found = self.client.get_events(
            name,
            self.deploy_block,
            address=self.address,
            topics=[None if t is None else _topic(t) for t in topics],
            step=LOG_STEP,
        )
        return sorted(found, key=lambda e: (e.block_number, e.log_index))

    def _last(self, name: str, *topics: bytes | str | None) -> DecodedEvent | None:
        found = self._events(name, *topics)
        return found[-1] if found else None

    # constants
    def max_requests_per_session(self) -> int:
        return int(self._call("MAX_REQUESTS_PER_SESSION"))

    def max_reservations_per_session(self) -> int:
        return int(self._call("MAX_RESERVATIONS_PER_SESSION"))

    def max_netting_members(self) -> int:
        return int(self._call("MAX_NETTING_MEMBERS"))

    def max_challenge_window(self) -> int:
        return int(self._call("MAX_CHALLENGE_WINDOW"))

    # registry
    def register_participant(
        self, account: str, metadata_hash: bytes, roles: Sequence[bytes], *, sender: str
    ) -> TxResult:
        return self._tx("registerParticipant", account, metadata_hash, list(roles), sender=sender)

    def revoke_participant(self, account: str, *, sender: str) -> TxResult:
        return self._tx("revokeParticipant", account, sender=sender)

    def participant_metadata(self, account: str) -> bytes:
        return bytes(self._call("participantMetadata", account))

    def is_registered(self, account: str) -> bool:
        return bool(self._call("isRegistered", account))

    # lifecycle
    def create_session(
        self,
        session_id: bytes,
        gate_closure: int,
        delivery_start: int,
        delivery_end: int,
        isp_seconds: int,
        challenge_window: int,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "createSession",
            session_id,
            gate_closure,
            delivery_start,
            delivery_end,
            isp_seconds,
            challenge_window,
            sender=sender,
        )

    def post_request(
        self,
        session_id: bytes,
        request_id: bytes,
        congestion_point: bytes,
        request_hash: bytes,
        budget: int,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "postRequest",
            session_id,
            request_id,
            congestion_point,
            request_hash,
            budget,
            sender=sender,
        )

    def post_request_with_permit(
        self,
        session_id: bytes,
        request_id: bytes,
        congestion_point: bytes,
        request_hash: bytes,
        budget: int,
        deadline: int,
        v: int,
        r: bytes,
        s: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "postRequestWithPermit",
            session_id,
            request_id,
            congestion_point,
            request_hash,
            budget,
            deadline,
            v,
            r,
            s,
            sender=sender,
        )

    def cancel_request(self, request_id: bytes, *, sender: str) -> TxResult:
        """The contract takes the session id too; it comes from the RequestPosted event."""
        posted = self._last("RequestPosted", None, request_id)
        session_id = bytes(posted.args["sessionId"]) if posted is not None else ZERO32
        return self._tx("cancelRequest", session_id, request_id, sender=sender)

    def commit_offers(
        self, session_id: bytes, offers_root: bytes, offer_count: int, *, sender: str
    ) -> TxResult:
        return self._tx("commitOffers", session_id, offers_root, offer_count, sender=sender)

    def close_session(self, session_id: bytes, *, sender: str) -> TxResult:
        return self._tx("closeSession", session_id, sender=sender)

    def post_clearing(
        self,
        session_id: bytes,
        input_hash: bytes,
        result_root: bytes,
        reservations: Sequence[Reservation],
        *,
        sender: str,
    ) -> TxResult:
        rows = [r.as_abi() for r in reservations]
        return self._tx("postClearing", session_id, input_hash, result_root, rows, sender=sender)

    def attest_delivery(
        self, session_id: bytes, delivery_root: bytes, payouts: Sequence[int], *, sender: str
    ) -> TxResult:
        """payouts[i] belongs to the i-th reservation; the list is passed back from events."""
        rows = [r.as_abi() for r in self.reservations(session_id)[0]]
        return self._tx(
            "attestDelivery", session_id, delivery_root, rows, list(payouts), sender=sender
        )

    def dispute(self, session_id: bytes, reason_hash: bytes, *, sender: str) -> TxResult:
        """An FSP that committed offers disputes as such; a DSO names one of its live requests."""
        return self._tx(
            "dispute",
            session_id,
            reason_hash,
            self._party_request(session_id, sender),
            sender=sender,
        )

    def _party_request(self, session_id: bytes, account: str) -> bytes:
        if self.offer_commitment(session_id, account).root != ZERO32:
            return ZERO32
        for event in self._events("RequestPosted", session_id, None, account):
            request_id = bytes(event.args["requestId"])
            if not self.request(request_id).cancelled:
                return request_id
        return ZERO32  # not a party: the contract names the refusal (FlexMarketNotParty)

    def resolve(
        self, session_id: bytes, corrected_root: bytes, payouts: Sequence[int], *, sender: str
    ) -> TxResult:
        rows = [r.as_abi() for r in self.reservations(session_id)[0]]
        return self._tx(
            "resolve",
            session_id,
            corrected_root,
            self.session_requests(session_id),
            rows,
            list(payouts),
            sender=sender,
        )

    def finalize(self, session_id: bytes, *, sender: str) -> TxResult:
        """Passes the session's request ids, reservations and payouts (read from events)."""
        reservations, payouts = self.reservations(session_id)
        return self._tx(
            "finalize",
            session_id,
            self.session_requests(session_id),
            [r.as_abi() for r in reservations],
            payouts,
            sender=sender,
        )

    def withdraw(self, *, sender: str) -> TxResult:
        return self._tx("withdraw", sender=sender)

    def withdraw_to(self, to: str, *, sender: str) -> TxResult:
        return self._tx("withdrawTo", to, sender=sender)

    def settle_netting(
        self,
        period_id: bytes,
        members: Sequence[str],
        net_amounts: Sequence[int],
        fee: int,
        fee_recipient: str,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "settleNetting",
            period_id,
            list(members),
            list(net_amounts),
            fee,
            fee_recipient,
            sender=sender,
        )

    # views
    def token(self) -> str:
        return str(self._call("token"))

    def positions(self) -> str:
        return str(self._call("positions"))

    def session(self, session_id: bytes) -> SessionInfo:
        """Stored state plus the roots published in events (input hash, result and delivery)."""
        raw = dict(self._call("session", session_id))
        raw["inputHash"] = raw["resultRoot"] = raw["deliveryRoot"] = ZERO32
        if raw["reservationsHash"] != ZERO32:
            posted = self._last("ClearingPosted", session_id)
            if posted is not None:
                raw["inputHash"] = bytes(posted.args["inputHash"])
                raw["resultRoot"] = bytes(posted.args["resultRoot"])
        if raw["payoutsHash"] != ZERO32:
            resolved = self._last("DisputeResolved", session_id)
            attested = self._last("DeliveryAttested", session_id)
            if resolved is not None:
                raw["deliveryRoot"] = bytes(resolved.args["correctedRoot"])
            elif attested is not None:
                raw["deliveryRoot"] = bytes(attested.args["deliveryRoot"])
        return SessionInfo.from_abi(raw)

    def session_id_at(self, index: int) -> bytes:
        """The index-th session created (SessionCreated events in chain order)."""
        created = self._events("SessionCreated")
        if not 0 <= index < len(created):
            raise IndexError(f"index: no session {index} ({len(created)} created)")
        return bytes(created[index].args["sessionId"])

    def session_count(self) -> int:
        return int(self._call("sessionCount"))

    def session_requests(self, session_id: bytes) -> list[bytes]:
        """Every request of the session in posting order (cancelled ones included)."""
        ids = [bytes(e.args["requestId"]) for e in self._events("RequestPosted", session_id)]
        stored = int(self._call("session", session_id)["requestCount"])
        if len(ids) != stored:
            raise ChainError(
                f"session 0x{session_id.hex()}: {len(ids)} RequestPosted events, "
                f"contract counts {stored}"
            )
        return ids

    def request(self, request_id: bytes) -> RequestInfo:
        """Stored request plus its congestion point from the RequestPosted event."""
        raw = dict(self._call("request", request_id))
        raw["congestionPoint"] = raw["sessionId"] = ZERO32
        if int(raw["dso"], 16) != 0:
            posted = self._last("RequestPosted", None, request_id)
            if posted is None:
                raise ChainError(f"request 0x{request_id.hex()}: no RequestPosted event")
            raw["congestionPoint"] = bytes(posted.args["congestionPoint"])
            raw["sessionId"] = bytes(posted.args["sessionId"])
        return RequestInfo.from_abi(raw)

    def offer_commitment(self, session_id: bytes, fsp: str) -> OfferCommitment:
        """Stored root plus count and time from the matching OffersCommitted event."""
        root = bytes(self._call("offerCommitment", session_id, fsp))
        if root == ZERO32:
            return OfferCommitment(root=root, count=0, committed_at=0)
        for event in reversed(self._events("OffersCommitted", session_id, fsp)):
            if bytes(event.args["offersRoot"]) == root:
                return OfferCommitment(
                    root=root,
                    count=int(event.args["offerCount"]),
                    committed_at=int(event.args["committedAt"]),
                )
        raise ChainError(
            f"offer commitment {fsp} in 0x{session_id.hex()}: no OffersCommitted event"
        )

    def reservations(self, session_id: bytes) -> tuple[list[Reservation], list[int]]:
        """The posted reservations and the current payouts (zeros before attestation).

        Rebuilt from ClearingPosted / DeliveryAttested / DisputeResolved and checked against
        the hashes the contract stores.
        """
        raw = self._call("session", session_id)
        expected = bytes(raw["reservationsHash"])
        if expected == ZERO32:
            return [], []
        posted = self._last("ClearingPosted", session_id)
        if posted is None:
            raise ChainError(f"session 0x{session_id.hex()}: no ClearingPosted event")
        reservations = [_reservation(row) for row in posted.args["reservations"]]
        if reservations_hash(reservations) != expected:
            raise ChainError(f"session 0x{session_id.hex()}: ClearingPosted != stored hash")
        payouts = [0] * len(reservations)
        stored_payouts = bytes(raw["payoutsHash"])
        if stored_payouts != ZERO32:
            event = self._last("DisputeResolved", session_id) or self._last(
                "DeliveryAttested", session_id
            )
            if event is None:
                raise ChainError(f"session 0x{session_id.hex()}: no payout event")
            payouts = [int(p) for p in event.args["payouts"]]
            if payouts_hash(payouts) != stored_payouts:
                raise ChainError(f"session 0x{session_id.hex()}: payout event != stored hash")
        return reservations, payouts

    def credits(self, account: str) -> int:
        return int(self._call("credits", account))

    def total_escrowed(self) -> int:
        return int(self._call("totalEscrowed"))

    def total_credited(self) -> int:
        return int(self._call("totalCredited"))

    def total_deposited(self) -> int:
        """Every budget ever pulled into escrow."""
        return int(self._call("totalDeposited"))

    def total_withdrawn(self) -> int:
        """Everything paid out by withdraw (= deposited - escrowed - credited)."""
        return int(self._call("totalWithdrawn"))

    def netting_settled(self, period_id: bytes) -> bool:
        return bool(self._call("nettingSettled", period_id))

    def position_balance(self, account: str, position_id: int) -> int:
        return int(self._call("positionBalance", account, position_id))


class FlexPositionsContract(_Wrapper):
    """Non-transferable ERC-1155 view of requests, awards and receipts."""

    NAME = "FlexPositions"

    @cached_property
    def MARKET_ROLE(self) -> bytes:
        return bytes(self._call("MARKET_ROLE"))

    def kind_request(self) -> int:
        return int(self._call("KIND_REQUEST"))

    def kind_award(self) -> int:
        return int(self._call("KIND_AWARD"))

    def kind_receipt(self) -> int:
        return int(self._call("KIND_RECEIPT"))

    def market(self) -> str:
        return str(self._call("market"))

    def position_id(self, kind: int, session_index: int, item_index: int) -> int:
        return int(self._call("positionId", kind, session_index, item_index))

    def decode_position_id(self, position_id: int) -> tuple[int, int, int]:
        kind, session_index, item_index = self._call("decodePositionId", position_id)
        return int(kind), int(session_index), int(item_index)

    def balance_of(self, account: str, position_id: int) -> int:
        return int(self._call("balanceOf", account, position_id))

    def balance_of_batch(self, accounts: Sequence[str], ids: Sequence[int]) -> list[int]:
        return [int(b) for b in self._call("balanceOfBatch", list(accounts), list(ids))]

    def uri(self, position_id: int) -> str:
        return str(self._call("uri", position_id))

    def is_approved_for_all(self, account: str, operator: str) -> bool:
        return bool(self._call("isApprovedForAll", account, operator))

    def set_approval_for_all(self, operator: str, approved: bool, *, sender: str) -> TxResult:
        return self._tx("setApprovalForAll", operator, approved, sender=sender)

    def safe_transfer_from(
        self, from_: str, to: str, position_id: int, value: int, data: bytes, *, sender: str
    ) -> TxResult:
        return self._tx("safeTransferFrom", from_, to, position_id, value, data, sender=sender)

    def safe_batch_transfer_from(
        self,
        from_: str,
        to: str,
        ids: Sequence[int],
        values: Sequence[int],
        data: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "safeBatchTransferFrom", from_, to, list(ids), list(values), data, sender=sender
        )

    def mint(
        self, to: Sequence[str], ids: Sequence[int], values: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("mint", list(to), list(ids), list(values), sender=sender)

    def burn(
        self, from_: Sequence[str], ids: Sequence[int], values: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("burn", list(from_), list(ids), list(values), sender=sender)


class NaiveMarketContract(_Wrapper):
    """Benchmark baseline: every offer stored on-chain, every order paid by its own push."""

    NAME = "NaiveMarket"

    def post_request(self, request_id: bytes, budget: int, *, sender: str) -> TxResult:
        return self._tx("postRequest", request_id, budget, sender=sender)

    def submit_offer(
        self, request_id: bytes, power_w: int, price_per_mwh: int, max_payment: int, *, sender: str
    ) -> TxResult:
        return self._tx(
            "submitOffer", request_id, power_w, price_per_mwh, max_payment, sender=sender
        )

    def accept_and_pay(
        self, request_id: bytes, offer_ids: Sequence[int], amounts: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("acceptAndPay", request_id, list(offer_ids), list(amounts), sender=sender)

    def refund(self, request_id: bytes, *, sender: str) -> TxResult:
        return self._tx("refund", request_id, sender=sender)

    def token(self) -> str:
        return str(self._call("token"))

    def offer_count(self) -> int:
        return int(self._call("offerCount"))

    def max_batch(self) -> int:
        return int(self._call("MAX_BATCH"))
