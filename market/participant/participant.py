"""How a market participant (DSO or FSP) acts: the one place that knows the order of the steps
and which of them are signed API messages and which are transactions.

Why here: the replay, the gateways and ``flexmarket participant`` all drive the same steps;
each step does its own checks first (so a mistake is named before anything is sent) and
translates the API's problems and the contract's reverts into :class:`ParticipantError`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from clearing.encoding import hex32
from clearing.messages import DPrognosis, FlexOffer, FlexOrder, FlexRequest
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from clearing.settlement.revenue import RevenueShareContract
from market.agents.common import as_message
from market.api.schemas import (
    AssetCreate,
    MeterReadingCreate,
    ParticipantCreate,
    RequestDraftCreate,
    SessionCreate,
)
from market.clearing_house.period import SignedContract
from market.client import ApiError, MarketClient
from market.participant.errors import ParticipantError, from_api_error
from market.participant.onchain import ChainAccount, Commitment

#: Store states in which a session's orders are final (the clearing is on-chain).
CLEARED_STATES = frozenset({"CLEARED", "DELIVERING", "VERIFIED", "DISPUTED", "FINAL"})


def once(kind: str, resource_id: str) -> str:
    """The message id of the one message that creates ``resource_id``: a retry (after a lost
    answer or a refusal further down a batch) is then a replay the API answers as the first
    time, instead of a conflict."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flexmarket:{kind}:{resource_id}"))


@contextmanager
def api_step(step: str, prefix: str = "") -> Iterator[None]:
    """The API's refusals of ``step`` as participant errors (field prefixed by ``prefix``)."""
    try:
        yield
    except ApiError as exc:
        err = from_api_error(exc, step=step)
        raise ParticipantError(prefix + err.field, err.reason, status=err.status) from exc


class Participant:
    """A DSO or FSP: its signed API client and (for the money steps) its chain account."""

    def __init__(self, client: MarketClient, chain: ChainAccount | None = None) -> None:
        if client.address is None:
            raise ParticipantError("key", "a participant needs a signing key")
        self.client = client
        self.chain_account = chain
        self.address = client.address.lower()
        self._relay: bool | None = None  # GET /deployment's commitment_relay, once read
        self._relayed: dict[str, Commitment] = {}  # session id -> what was signed for it
        # the revenue-sharing contracts it posted, by id: the set it commits with its offers
        self.contracts: dict[str, RevenueShareContract] = {}

    @property
    def chain(self) -> ChainAccount:
        if self.chain_account is None:
            raise ParticipantError("rpc", "this step is a transaction: give the chain's RPC URL")
        return self.chain_account

    # ---- identity ---------------------------------------------------------------------------

    def login(self) -> str:
        """Sign-In with Ethereum; the token is kept for the private reads."""
        with api_step("login"):
            return self.client.sign_in()

    def _signed_in(self) -> None:
        if self.client.token is None:
            self.login()

    def describe(self, name: str, *, eic: str | None = None) -> dict[str, Any]:
        """Publish this participant's name (and EIC code) in the market's registry."""
        with api_step("participant"):
            return self.client.register_participant(ParticipantCreate(name=name, eic_code=eic))

    def register_asset(self, asset: AssetCreate) -> dict[str, Any]:
        """Register one EVSE (with its station's meter key) in this FSP's portfolio."""
        with api_step("asset", "asset."):
            return self.client.register_asset(asset, message_id=once("asset", asset.asset_id))

    def assets(self) -> list[dict[str, Any]]:
        with api_step("assets"):
            return self.client.assets(owner=self.address)

    # ---- before gate closure ----------------------------------------------------------------

    def open_session(self, body: SessionCreate) -> dict[str, Any]:
        """Ask the market to open a session (the operator; a DSO within the operator's bounds
        for intraday sessions). One message id per session: a retry is a replay."""
        with api_step("session", "session."):
            return self.client.create_session(body, message_id=once("session", body.session_id))

    def sessions(self, state: str | None = None) -> list[dict[str, Any]]:
        with api_step("sessions"):
            return self.client.sessions(state=state)

    def requests(self, session_id: str) -> list[FlexRequest]:
        """The session's published requests, as messages an FSP can answer."""
        with api_step("session_id"):
            rows = self.client.requests(session_id)
        return [as_message(FlexRequest, r) for r in rows]

    def post_prognosis(self, prognosis: DPrognosis) -> dict[str, Any]:
        with api_step("prognosis", "prognosis."):
            return self.client.post_prognosis(
                prognosis, message_id=once("prognosis", prognosis.prognosis_id)
            )

    def post_request(self, request: FlexRequest) -> dict[str, Any]:
        """Escrow the request's budget on-chain, then publish the signed request."""
        self.chain.escrow_request(request)
        with api_step("request", "request."):
            return self.client.post_request(request, message_id=once("request", request.request_id))

    def draft_request(self, draft: RequestDraftCreate) -> dict[str, Any]:
        """Post a request draft for the DSO's approval (manual mode): nothing is escrowed."""
        with api_step("request_draft", "request_draft."):
            return self.client.post_request_draft(
                draft, message_id=once("request_draft", draft.request.request_id)
            )

    def request_drafts(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """This DSO's drafts (signs in first, and again once when the token has lapsed)."""
        with api_step("request_drafts"):
            if self.client.token is None:
                self.client.sign_in()
            try:
                return self.client.request_drafts(session_id)
            except ApiError as exc:
                if exc.status != 401:
                    raise
                self.client.sign_in()
                return self.client.request_drafts(session_id)

    def check_offers(self, offers: Sequence[FlexOffer]) -> str:
        """The one session the offers are for; refuses a mix or another FSP's offers."""
        if not offers:
            raise ParticipantError("offers", "no offers given")
        session_id = offers[0].session_id
        seen: set[str] = set()
        for i, offer in enumerate(offers):
            if offer.session_id != session_id:
                raise ParticipantError(
                    f"offers[{i}].session_id",
                    f"{offer.session_id} differs from offers[0] ({session_id}): "
                    "commit one session at a time",
                )
            if offer.fsp.lower() != self.address:
                raise ParticipantError(
                    f"offers[{i}].fsp", f"{offer.fsp} is not this key's address {self.address}"
                )
            if offer.offer_id in seen:
                raise ParticipantError(f"offers[{i}].offer_id", f"{offer.offer_id} is repeated")
            seen.add(offer.offer_id)
        return session_id

    def post_revenue_contract(self, signed: SignedContract) -> dict[str, Any]:
        """Post a revenue-sharing contract signed by all its parties, and add it to the set this
        FSP commits with its next offers (the market's store holds every contract an FSP
        posted; the committed set must be that one, so post before committing)."""
        with api_step("revenue_contract"):
            out = self.client.post_revenue_contract(signed)
        self.contracts[signed.contract.contract_id] = signed.contract
        return out

    def commit_offers(self, offers: Sequence[FlexOffer], *, relay: bool | None = None) -> str:
        """Commit the offers' Merkle root (before gate closure) with this FSP's published
        prognoses for the session, its registered portfolio and its contract set
        (:meth:`post_revenue_contract`); returns the root.

        Through the operator's relay (a signed commitment posted to the API, sent on-chain in
        one batch with the others) when the market advertises it (``GET /deployment``'s
        ``commitment_relay``) or ``relay`` says so; otherwise with its own transaction. After a
        relayed commit, call :meth:`ensure_committed` shortly before gate closure."""
        session_id = self.check_offers(offers)
        with api_step("session_id"):
            prognoses = [as_message(DPrognosis, r) for r in self.client.prognoses(session_id)]
        commitment = self.chain.commitment(
            offers, prognoses, self.portfolios(), list(self.contracts.values())
        )
        if not (self.relay_advertised() if relay is None else relay):
            return self.chain.commit(session_id, commitment)
        self._relayed[session_id] = commitment
        with api_step("commitment", "commitment."):
            self.client.post_commitment(
                session_id, self.chain.sign_commitment(session_id, commitment)
            )
        return hex32(commitment.root)

    def relay_advertised(self) -> bool:
        """Whether the market relays signed commitments (cached per participant)."""
        if self._relay is None:
            with api_step("deployment"):
                self._relay = bool(self.client.deployment().get("commitment_relay", False))
        return self._relay

    def relayed(self, session_id: str) -> bool:
        """Whether this participant handed a commitment for the session to the relay."""
        return session_id in self._relayed

    def ensure_committed(self, session_id: str) -> str:
        """The fallback for a relayed commitment: if the chain does not hold it yet (call this
        at gate closure minus a margin), commit the same values with an own transaction.
        Returns ``on-chain`` or ``self-committed``."""
        commitment = self._relayed.get(session_id)
        if commitment is None:
            raise ParticipantError("session_id", "no relayed commitment was posted for it here")
        if self.chain.has_committed(session_id):
            return "on-chain"
        self.chain.commit(session_id, commitment)
        return "self-committed"

    def portfolios(self) -> list[Portfolio]:
        """This FSP's meters per congestion point, from its registered assets (what delivery
        verification counts for it)."""
        meters: dict[str, set[tuple[str, int]]] = {}
        for a in self.assets():
            if a.get("station_id") and str(a.get("owner", "")).lower() == self.address:
                meters.setdefault(str(a["congestion_point"]), set()).add(
                    (str(a["station_id"]), int(a["evse_id"]))
                )
        return [
            Portfolio(
                fsp=self.address,
                congestion_point=cp,
                meters=tuple(MeterRef(station=s, evse=e) for s, e in sorted(meters[cp])),
            )
            for cp in sorted(meters)
        ]

    def post_offers(
        self, offers: Sequence[FlexOffer], proofs: Mapping[str, dict[str, str]] | None = None
    ) -> list[dict[str, Any]]:
        """Sign and submit each offer to the market API (with its UFTP proof, if in ``proofs``)."""
        self.check_offers(offers)
        out = []
        for i, offer in enumerate(offers):
            with api_step("offer", f"offers[{i}]."):
                proof = (proofs or {}).get(offer.offer_id)
                mid = once("offer", offer.offer_id)
                out.append(self.client.post_offer(offer, message_id=mid, proof=proof))
        return out

    def submit_offers(self, offers: Sequence[FlexOffer]) -> str:
        """Commit then submit: the whole bid of one FSP for one session; returns the root."""
        root = self.commit_offers(offers)
        self.post_offers(offers)
        return root

    # ---- after clearing ---------------------------------------------------------------------

    def session_state(self, session_id: str) -> str:
        with api_step("session_id"):
            return str(self.client.session(session_id)["state"])

    def orders(self, session_id: str) -> list[FlexOrder]:
        """This FSP's orders of a cleared session (empty before clearing)."""
        with api_step("session_id"):
            rows = self.client.orders(session_id, self.address)
        return [as_message(FlexOrder, r) for r in rows]

    def follow_orders(
        self,
        session_id: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> list[FlexOrder]:
        """Wait until the session is cleared, then return this FSP's orders (polling GET)."""
        deadline = monotonic() + timeout_s
        while True:
            state = self.session_state(session_id)
            if state in CLEARED_STATES:
                return self.orders(session_id)
            if monotonic() >= deadline:
                raise ParticipantError(
                    "session_id", f"{session_id} is still {state} after {timeout_s:g} s"
                )
            sleep(poll_s)

    def post_readings(self, readings: Sequence[MeterReadingCreate]) -> list[dict[str, Any]]:
        """Relay station-signed meter readings; stops at the first refused one (named)."""
        out = []
        for i, reading in enumerate(readings):
            if not reading.signature or not reading.signed_data:
                raise ParticipantError(
                    f"readings[{i}].signature", "a reading must carry its station's signature"
                )
            with api_step("reading", f"readings[{i}]."):
                out.append(self.client.post_meter_reading(reading))
        return out

    def dispute(
        self, session_id: str, reason: str, evidence: Sequence[MeterReadingCreate] = ()
    ) -> dict[str, Any]:
        """Dispute on-chain, then post the evidence (own station-signed readings)."""
        reason_hash = self.chain.dispute(session_id, reason)
        out: dict[str, Any] = {"session_id": session_id, "reason_hash": reason_hash}
        if evidence:
            with api_step("evidence", "evidence."):
                out["evidence"] = self.client.post_dispute_evidence(
                    session_id, evidence, reason=reason
                )
        return out

    # ---- money and statements ---------------------------------------------------------------

    def withdraw(self) -> int:
        """Withdraw every credit; refuses when there is none (nothing is sent then)."""
        if self.chain.credits_units() == 0:
            raise ParticipantError("credits", f"{self.address} has nothing to withdraw")
        return self.chain.withdraw()

    def _private(self, step: str, read: Callable[[], Any]) -> Any:
        """A signed-in read; an expired token (401: a long-running gateway, or a chain clock
        that moved on) signs in again, once."""
        self._signed_in()
        try:
            with api_step(step):
                return read()
        except ParticipantError as exc:
            if exc.status != 401:
                raise
        self.login()
        with api_step(step):
            return read()

    def settlements(self, session_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._private(
            "session_id", lambda: self.client.settlements(session_id, fsp=self.address)
        )
        return rows

    def statement(self, period: str, *, fmt: str = "json") -> Any:
        """This participant's clearing-house statement of ``period`` (a session id), once the
        clearing house has netted it (signs in when needed)."""
        return self._private("period", lambda: self.client.statement(period, fmt=fmt))

    def dso_statement(self, period: str, *, fmt: str = "json") -> Any:
        """This DSO's statement of a session id or a month ``YYYY-MM``: escrowed, paid to
        FSPs, refunded and penalties, each line with its transaction (signs in when needed)."""
        return self._private("period", lambda: self.client.dso_statement(period, fmt=fmt))

    def statements(self, session_id: str) -> dict[str, Any]:
        """What this participant is owed for a session: the market's settlements (reserved
        and attested payout per request) and, once netted, the clearing-house statement."""
        out: dict[str, Any] = {"session_id": session_id, "settlements": []}
        out["settlements"] = self.settlements(session_id)
        try:
            out["netting"] = self.statement(session_id)
        except ParticipantError as exc:
            if exc.status != 404:
                raise
            out["netting"] = None  # not netted (yet): the settlements are the whole account
        return out
