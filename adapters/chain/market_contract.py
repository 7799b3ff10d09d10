"""Wrapper of FlexMarket's transactions (its reads are in ``market_views``)."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.crypto import keccak

from adapters.chain.commitment_sig import SignedCommitment, commitment_digest, compact
from adapters.chain.market_lists import ZERO32
from adapters.chain.market_views import FlexMarketViews
from adapters.chain.tx import TxResult
from adapters.chain.types import Reservation, SessionState, StationRecord


def station_hash(station_id: str) -> bytes:
    """The registry key of a station: keccak256 of its id (UTF-8)."""
    return keccak(text=station_id)


class FlexMarketContract(FlexMarketViews):
    """Sessions, escrow, offer commitments, clearing, attestation, disputes and the ledger.

    The transactions that need a list the contract only holds as a hash (attest, resolve,
    finalize) pass it back, rebuilt from events by the views.
    """

    # registry
    def register_participant(
        self, account: str, metadata_hash: bytes, roles: Sequence[bytes], *, sender: str
    ) -> TxResult:
        return self._tx("registerParticipant", account, metadata_hash, list(roles), sender=sender)

    def revoke_participant(self, account: str, *, sender: str) -> TxResult:
        return self._tx("revokeParticipant", account, sender=sender)

    # station-key registry (CPO_ROLE)
    def register_station(self, station_id: str, meter_key: str, *, sender: str) -> TxResult:
        return self._tx("registerStation", station_hash(station_id), meter_key, sender=sender)

    def grant_station(self, station_id: str, fsp: str, *, sender: str) -> TxResult:
        return self._tx("grantStation", station_hash(station_id), fsp, sender=sender)

    def station(self, station_id: str) -> StationRecord:
        """The station's registry entry as stored now (zero addresses: not registered)."""
        key = station_hash(station_id)
        cpo, meter_key, fsp = self._call("station", key)
        return StationRecord(key, str(cpo), str(meter_key), str(fsp))

    # lifecycle
    def create_session(
        self,
        session_id: bytes,
        gate_closure: int,
        delivery_start: int,
        delivery_end: int,
        isp_s: int,
        challenge_window: int,
        terms_hash: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "createSession",
            session_id,
            gate_closure,
            delivery_start,
            delivery_end,
            isp_s,
            challenge_window,
            terms_hash,
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
        self,
        session_id: bytes,
        offers_root: bytes,
        offer_count: int,
        prognosis_hash: bytes,
        portfolio_hash: bytes,
        *,
        sender: str,
    ) -> TxResult:
        """The FSP's own commitment: offers root and count, prognosis and portfolio hashes."""
        return self._tx(
            "commitOffers",
            session_id,
            offers_root,
            offer_count,
            prognosis_hash,
            portfolio_hash,
            sender=sender,
        )

    def sign_commitment(
        self,
        session_id: bytes,
        offers_root: bytes,
        offer_count: int,
        prognosis_hash: bytes,
        portfolio_hash: bytes,
        fsp: str,
    ) -> SignedCommitment:
        """The FSP's EIP-712 signature of its commitment (its key must be held by the client),
        for the operator to relay with ``commit_offers_by_sig``."""
        digest = commitment_digest(
            self.client.chain_id,
            self.address,
            session_id,
            offers_root,
            offer_count,
            prognosis_hash,
            portfolio_hash,
        )
        r, vs = compact(self.client.sign_hash(fsp, digest))
        return SignedCommitment(offers_root, prognosis_hash, portfolio_hash, offer_count, r, vs)

    def commit_offers_by_sig(
        self, session_id: bytes, signed: Sequence[SignedCommitment], *, sender: str
    ) -> TxResult:
        """The operator relays FSP-signed commitments in one transaction."""
        rows = [c.as_abi() for c in signed]
        return self._tx("commitOffersBySig", session_id, rows, sender=sender)

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

    def commit_readings_digests(self, session_id: bytes, root: bytes, *, sender: str) -> TxResult:
        """The meter oracle fixes the root of the CPO-signed readings digests (Cleared, once)."""
        return self._tx("commitReadingsDigests", session_id, root, sender=sender)

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
        if self.has_committed(session_id, account):
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

    def withdraw_by_signature(
        self, account: str, to: str, deadline: int, r: bytes, vs: bytes, *, sender: str
    ) -> TxResult:
        """Relays ``account``'s signed Withdrawal (adapters/chain/withdrawal_sig.py): its whole
        credit goes to ``to``; ``sender`` only pays the gas."""
        return self._tx("withdrawBySignature", account, to, deadline, r, vs, sender=sender)

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

    def repay_receivables(self, debtor: str, *, sender: str) -> TxResult:
        """Moves ``debtor``'s credit to the creditors its nettings recorded (anyone may send)."""
        return self._tx("repayReceivables", debtor, sender=sender)

    def name_netting_payees(
        self, payees: Sequence[str], named: bool = True, *, sender: str
    ) -> TxResult:
        """The sending FSP names (or withdraws) the accounts its netting may pay; it counts in
        the sessions the FSP committed offers to, when it is a member of the netting."""
        return self._tx("nameNettingPayees", list(payees), named, sender=sender)

    def refund_stuck(self, session_id: bytes, *, sender: str) -> TxResult:
        """Releases a stuck session's escrow (anyone, after ``stuck_deadline``); passes the
        request ids, the posted reservations and, for a Disputed session, the attested payouts."""
        reservations, payouts = self.reservations(session_id)
        disputed = self.session(session_id).state == SessionState.DISPUTED
        return self._tx(
            "refundStuck",
            session_id,
            self.session_requests(session_id),
            [r.as_abi() for r in reservations],
            payouts if disputed else [],
            sender=sender,
        )
