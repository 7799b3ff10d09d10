"""FlexMarket's views: the session as stored, its anchored roots, and the hashed lists."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from adapters.chain.market_lists import (
    LOG_STEP,
    ZERO32,
    payouts_hash,
    reservation_from_abi,
    reservations_hash,
    topic,
)
from adapters.chain.revert import ChainError
from adapters.chain.session_view import ChainRequest, ChainSession, RequestOrigin, SessionRoots
from adapters.chain.tx import DecodedEvent
from adapters.chain.types import MARKET_ROLE_NAMES, OfferCommitment, Reservation
from adapters.chain.wrapper import ContractWrapper


class FlexMarketViews(ContractWrapper):
    """FlexMarket's reads: stored state, plus the lists rebuilt from events and checked.

    The contract stores lists (a session's request ids, reservations, payouts) only as hashes
    and publishes them in indexed events. The views below rebuild them from those events
    (``eth_getLogs`` filtered by the indexed session id) and check them against the stored
    hashes.
    """

    NAME = "FlexMarket"
    ROLE_NAMES: ClassVar[tuple[str, ...]] = MARKET_ROLE_NAMES

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
            topics=[None if t is None else topic(t) for t in topics],
            step=LOG_STEP,
        )
        return sorted(found, key=lambda e: (e.block_number, e.log_index))

    def _last(self, name: str, *topics: bytes | str | None) -> DecodedEvent | None:
        found = self._events(name, *topics)
        return found[-1] if found else None

    # constants
    def max_commitments_per_batch(self) -> int:
        return int(self._call("MAX_COMMITMENTS_PER_BATCH"))

    def max_requests_per_session(self) -> int:
        return int(self._call("MAX_REQUESTS_PER_SESSION"))

    def max_reservations_per_session(self) -> int:
        return int(self._call("MAX_RESERVATIONS_PER_SESSION"))

    def max_netting_members(self) -> int:
        return int(self._call("MAX_NETTING_MEMBERS"))

    def max_challenge_window(self) -> int:
        return int(self._call("MAX_CHALLENGE_WINDOW"))

    def max_netting_fee_ppm(self) -> int:
        return int(self._call("MAX_NETTING_FEE_PPM"))

    def liveness_grace_s(self) -> int:
        """Seconds after a step's deadline before ``refundStuck`` may release the escrow."""
        return int(self._call("LIVENESS_GRACE"))

    def netting_fee_cap_ppm(self) -> int:
        """The netting fee cap fixed at deployment, in ppm of a session's paid amount."""
        return int(self._call("nettingFeeCapPpm"))

    def participant_metadata(self, account: str) -> bytes:
        return bytes(self._call("participantMetadata", account))

    def is_registered(self, account: str) -> bool:
        return bool(self._call("isRegistered", account))

    # views
    def token(self) -> str:
        return str(self._call("token"))

    def positions(self) -> str:
        return str(self._call("positions"))

    def session(self, session_id: bytes) -> ChainSession:
        """The session as the contract stores it (all zero for an unknown id)."""
        return ChainSession.from_abi(self._call("session", session_id))

    def session_roots(self, session_id: bytes, stored: ChainSession | None = None) -> SessionRoots:
        """The input hash, result root and delivery root the session anchored in events."""
        stored = stored if stored is not None else self.session(session_id)
        input_hash = result_root = delivery_root = ZERO32
        if stored.reservations_hash != ZERO32:
            posted = self._last("ClearingPosted", session_id)
            if posted is not None:
                input_hash = bytes(posted.args["inputHash"])
                result_root = bytes(posted.args["resultRoot"])
        if stored.payouts_hash != ZERO32:
            resolved = self._last("DisputeResolved", session_id)
            attested = self._last("DeliveryAttested", session_id)
            if resolved is not None:
                delivery_root = bytes(resolved.args["correctedRoot"])
            elif attested is not None:
                delivery_root = bytes(attested.args["deliveryRoot"])
        return SessionRoots(input_hash, result_root, delivery_root)

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
        stored = self.session(session_id).request_count
        if len(ids) != stored:
            raise ChainError(
                f"session 0x{session_id.hex()}: {len(ids)} RequestPosted events, "
                f"contract counts {stored}"
            )
        return ids

    def has_committed(self, session_id: bytes, fsp: str) -> bool:
        """Whether the FSP committed to the session (one bit on-chain)."""
        return bool(self._call("hasCommitted", session_id, fsp))

    def commitment_digest(
        self,
        session_id: bytes,
        offers_root: bytes,
        offer_count: int,
        prognosis_hash: bytes,
        portfolio_hash: bytes,
    ) -> bytes:
        """The contract's EIP-712 digest of a commitment (``commitment_sig`` computes it
        locally; this is the cross-check)."""
        return bytes(
            self._call(
                "commitmentDigest",
                session_id,
                offers_root,
                offer_count,
                prognosis_hash,
                portfolio_hash,
            )
        )

    def offer_root(self, session_id: bytes, fsp: str) -> bytes:
        """The FSP's committed offer root (zero if it committed none)."""
        return self.offer_commitment(session_id, fsp).root

    def request(self, request_id: bytes) -> ChainRequest:
        """The request as the contract stores it (all zero for an unknown id)."""
        return ChainRequest.from_abi(self._call("request", request_id))

    def request_origin(self, request_id: bytes) -> RequestOrigin:
        """The session and congestion point of a posted request, from its RequestPosted event."""
        posted = self._last("RequestPosted", None, request_id)
        if posted is None:
            raise ChainError(f"request 0x{request_id.hex()}: no RequestPosted event")
        return RequestOrigin(
            session_id=bytes(posted.args["sessionId"]),
            congestion_point=bytes(posted.args["congestionPoint"]),
        )

    def offer_commitment(self, session_id: bytes, fsp: str) -> OfferCommitment:
        """The FSP's one commitment (root, count, time, prognosis and portfolio hashes) from its
        OffersCommitted
        event (time: its block's), checked against the contract's bit; all zero if none."""
        if not self.has_committed(session_id, fsp):
            return OfferCommitment(root=ZERO32, count=0, committed_at=0)
        events = self._events("OffersCommitted", session_id, fsp)
        if len(events) != 1:
            raise ChainError(
                f"offer commitment {fsp} in 0x{session_id.hex()}: {len(events)} OffersCommitted "
                "events, the contract allows exactly one"
            )
        args = events[0].args
        return OfferCommitment(
            root=bytes(args["offersRoot"]),
            count=int(args["offerCount"]),
            committed_at=self.client.block_timestamp(events[0].block_number),
            prognosis_hash=bytes(args["prognosisHash"]),
            portfolio_hash=bytes(args["portfolioHash"]),
        )

    def reservations(self, session_id: bytes) -> tuple[list[Reservation], list[int]]:
        """The posted reservations and the current payouts (zeros before attestation).

        Rebuilt from ClearingPosted / DeliveryAttested / DisputeResolved and checked against
        the hashes the contract stores.
        """
        stored = self.session(session_id)
        expected = stored.reservations_hash
        if expected == ZERO32:
            return [], []
        posted = self._last("ClearingPosted", session_id)
        if posted is None:
            raise ChainError(f"session 0x{session_id.hex()}: no ClearingPosted event")
        reservations = [reservation_from_abi(row) for row in posted.args["reservations"]]
        if reservations_hash(reservations) != expected:
            raise ChainError(f"session 0x{session_id.hex()}: ClearingPosted != stored hash")
        payouts = [0] * len(reservations)
        stored_payouts = stored.payouts_hash
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

    def withdrawal_nonce(self, account: str) -> int:
        """The nonce ``account``'s next signed Withdrawal must carry (withdrawBySignature)."""
        return int(self._call("withdrawalNonce", account))

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

    def is_netting_payee(self, fsp: str, payee: str) -> bool:
        """Whether ``fsp`` named ``payee`` with ``nameNettingPayees`` (and did not withdraw it)."""
        return bool(self._call("isNettingPayee", fsp, payee))

    def receivable(self, debtor: str, creditor: str) -> int:
        """What ``debtor`` still owes ``creditor`` from earlier nettings (issue 19)."""
        return int(self._call("receivable", debtor, creditor))

    def receivable_creditors(self, debtor: str) -> list[str]:
        """The creditors ``debtor`` still owes (order changes as receivables are repaid)."""
        return [str(a) for a in self._call("receivableCreditors", debtor)]

    def receivable_debtors(self, creditor: str) -> list[str]:
        """Every account a netting ever recorded as owing ``creditor`` (``ReceivableRecorded``
        indexes the creditor; the contract keeps only the debtor's side as a list)."""
        found = self._events("ReceivableRecorded", None, creditor)
        return sorted({str(e.args["debtor"]) for e in found})

    def stuck_deadline(self, session_id: bytes) -> int:
        """When ``refundStuck`` becomes possible (Unix seconds); 0 when no step is pending."""
        return int(self._call("stuckDeadline", session_id))

    def position_balance(self, account: str, position_id: int) -> int:
        return int(self._call("positionBalance", account, position_id))
