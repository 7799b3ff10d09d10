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

from eth_account import Account
from eth_account.messages import encode_typed_data

from adapters.chain.client import BoundContract, ChainClient, TxResult
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


class FlexMarketContract(_Wrapper):
    """Sessions, escrow, offer commitments, clearing, attestation, disputes and the ledger."""

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
        return self._tx("cancelRequest", request_id, sender=sender)

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
        return self._tx("attestDelivery", session_id, delivery_root, list(payouts), sender=sender)

    def dispute(self, session_id: bytes, reason_hash: bytes, *, sender: str) -> TxResult:
        return self._tx("dispute", session_id, reason_hash, sender=sender)

    def resolve(
        self, session_id: bytes, corrected_root: bytes, payouts: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("resolve", session_id, corrected_root, list(payouts), sender=sender)

    def finalize(self, session_id: bytes, *, sender: str) -> TxResult:
        return self._tx("finalize", session_id, sender=sender)

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
        return SessionInfo.from_abi(self._call("session", session_id))

    def session_id_at(self, index: int) -> bytes:
        return bytes(self._call("sessionIdAt", index))

    def session_count(self) -> int:
        return int(self._call("sessionCount"))

    def session_requests(self, session_id: bytes) -> list[bytes]:
        return [bytes(r) for r in self._call("sessionRequests", session_id)]

    def request(self, request_id: bytes) -> RequestInfo:
        return RequestInfo.from_abi(self._call("request", request_id))

    def offer_commitment(self, session_id: bytes, fsp: str) -> OfferCommitment:
        root, count, committed_at = self._call("offerCommitment", session_id, fsp)
        return OfferCommitment(root=bytes(root), count=int(count), committed_at=int(committed_at))

    def reservations(self, session_id: bytes) -> tuple[list[Reservation], list[int]]:
        rows, payouts = self._call("reservations", session_id)
        reservations = [
            Reservation(request_id=bytes(r["requestId"]), fsp=r["fsp"], amount=int(r["amount"]))
            for r in rows
        ]
        return reservations, [int(p) for p in payouts]

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
