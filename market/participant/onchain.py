"""A participant's own transactions: token allowance, request escrow, offer commitments (with
the prognosis and portfolio they bind), disputes and withdrawals, and a CPO's station keys and
grants.

Why separate from the API side: payees such as EV users or CPOs only ever withdraw, and the
replay shares one chain client (holding every derived key) among all its participants, so this
class needs nothing but the contract wrappers and the sender's address.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from adapters.chain.commitment_sig import commitment_digest
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.revert import ChainError, ContractRevert
from adapters.chain.token import SettlementTokenContract
from clearing.commitments import (
    contract_set_root,
    offers_root,
    own_portfolios,
    own_prognoses,
    portfolio_hash,
    prognosis_hash,
)
from clearing.encoding import code_to_bytes32, hex32, uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from clearing.settlement.report import Portfolio
from clearing.settlement.revenue import RevenueShareContract
from market.participant.errors import ParticipantError, from_chain_error


@contextmanager
def onchain(step: str) -> Iterator[None]:
    """Contract reverts and node failures of ``step`` as participant errors."""
    try:
        yield
    except ChainError as exc:
        raise from_chain_error(exc, step=step) from exc


@dataclass(frozen=True)
class Commitment:
    """What an FSP commits to a session: offers root and count, prognosis and portfolio hash."""

    root: bytes
    count: int
    prognosis: bytes
    portfolio: bytes


@dataclass
class ChainAccount:
    """One account's side of the market contract (its key is held by the market's client)."""

    market: FlexMarketContract
    token: SettlementTokenContract | None
    address: str

    def _token(self) -> SettlementTokenContract:
        if self.token is None:
            raise ParticipantError("token", "this account was set up without the token contract")
        return self.token

    # ---- money ----------------------------------------------------------------------------

    def balance_units(self) -> int:
        with onchain("balance"):
            return self._token().balance_of(self.address)

    def allowance_units(self) -> int:
        with onchain("allowance"):
            return self._token().allowance(self.address, self.market.address)

    def approve(self, amount_units: int) -> int:
        """Let the market take up to ``amount_units`` of this account's token for escrow."""
        if amount_units < 0:
            raise ParticipantError("amount_units", f"must be >= 0, got {amount_units}")
        with onchain("approve"):
            self._token().approve(self.market.address, amount_units, sender=self.address)
        return amount_units

    def credits_units(self) -> int:
        with onchain("credits"):
            return self.market.credits(self.address)

    def withdraw(self) -> int:
        """Withdraw every credit; returns the amount paid out (token minor units)."""
        return self.withdraw_with_tx()[0]

    def withdraw_with_tx(self) -> tuple[int, str]:
        """Withdraw every credit; the amount paid out and the transaction hash (for a
        statement that names where the money went)."""
        with onchain("withdraw"):
            tx = self.market.withdraw(sender=self.address)
        return int(tx.event("Withdrawn").args["amount"]), tx.tx_hash

    # ---- market steps ---------------------------------------------------------------------

    def escrow_request(self, request: FlexRequest) -> bool:
        """Escrow the request's budget on-chain (the hash binds the signed request to it).

        Idempotent, so a DSO can retry after the API refused or lost the publication: the same
        request already escrowed by this account is not escrowed twice (returns False).
        """
        try:
            with onchain("escrow request"):
                self.market.post_request(
                    uuid_to_bytes32(request.session_id),
                    uuid_to_bytes32(request.request_id),
                    code_to_bytes32(request.congestion_point),
                    request.canonical_hash(),
                    request.budget_units,
                    sender=self.address,
                )
        except ParticipantError as exc:
            if not isinstance(exc.__cause__, ContractRevert) or (
                exc.__cause__.error_name != "FlexMarketRequestExists"
            ):
                raise
            with onchain("escrow request"):
                held = self.market.request(uuid_to_bytes32(request.request_id))
            same = held.dso.lower() == self.address.lower() and (
                held.request_hash == request.canonical_hash() and not held.cancelled
            )
            if not same:
                raise
            return False
        return True

    def commitment(
        self,
        offers: Sequence[FlexOffer],
        prognoses: Sequence[DPrognosis] = (),
        portfolios: Sequence[Portfolio] = (),
        contracts: Sequence[RevenueShareContract] = (),
    ) -> Commitment:
        """The four values this FSP commits for its offers, prognoses and portfolio (with the
        root of its revenue-sharing ``contracts``: the set its netting may apply)."""
        if not offers:
            raise ParticipantError("offers", "no offers to commit")
        return Commitment(
            root=offers_root(offers),
            count=len(offers),
            prognosis=prognosis_hash(own_prognoses(prognoses, self.address)),
            portfolio=portfolio_hash(
                own_portfolios(portfolios, self.address), contract_set_root(contracts)
            ),
        )

    def commit_offers(
        self,
        session_id: str,
        offers: Sequence[FlexOffer],
        prognoses: Sequence[DPrognosis] = (),
        portfolios: Sequence[Portfolio] = (),
    ) -> str:
        """Commit, once, the Merkle root of this FSP's offers of one session with the hashes of
        its prognoses (baselines) and portfolio (meters per congestion point); returns the
        root. Delivery is then verified against exactly these."""
        return self.commit(session_id, self.commitment(offers, prognoses, portfolios))

    def commit(self, session_id: str, c: Commitment) -> str:
        """Send ``c`` on-chain from this account (idempotent for the same values)."""
        sid = uuid_to_bytes32(session_id)
        try:
            with onchain("commit offers"):
                self.market.commit_offers(
                    sid, c.root, c.count, c.prognosis, c.portfolio, sender=self.address
                )
        except ParticipantError as exc:
            # a retry after a lost answer (or a relay that landed): the same values are success
            if not isinstance(exc.__cause__, ContractRevert) or (
                exc.__cause__.error_name != "FlexMarketAlreadyCommitted"
            ):
                raise
            with onchain("commit offers"):
                held = self.market.offer_commitment(sid, self.address)
            if (held.root, held.count, held.prognosis_hash, held.portfolio_hash) != (
                c.root,
                c.count,
                c.prognosis,
                c.portfolio,
            ):
                raise
        return hex32(c.root)

    def sign_commitment(self, session_id: str, c: Commitment) -> dict[str, Any]:
        """``c`` with this FSP's 65-byte EIP-712 signature, as ``POST /sessions/{id}/commitments``
        takes it (the operator relays it with ``commitOffersBySig``)."""
        digest = commitment_digest(
            self.market.client.chain_id,
            self.market.address,
            uuid_to_bytes32(session_id),
            c.root,
            c.count,
            c.prognosis,
            c.portfolio,
        )
        signature = self.market.client.sign_hash(self.address, digest)
        return {
            "offers_root": hex32(c.root),
            "offer_count": c.count,
            "prognosis_hash": hex32(c.prognosis),
            "portfolio_hash": hex32(c.portfolio),
            "signature": "0x" + signature.hex(),
        }

    def has_committed(self, session_id: str) -> bool:
        with onchain("commit offers"):
            return self.market.has_committed(uuid_to_bytes32(session_id), self.address)

    # ---- the CPO's station registry (CPO_ROLE) ----------------------------------------------

    def register_station(self, station_id: str, meter_key: str) -> bool:
        """Register ``meter_key`` (an address) as the key of this CPO's station.

        Idempotent: the same key already registered by this CPO returns False; any other
        entry (another key, another CPO) is the contract's refusal.
        """
        with onchain("register station"):
            held = self.market.station(station_id)
        mine = held.registered and held.cpo.lower() == self.address.lower()
        if mine and held.meter_key.lower() == meter_key.lower():
            return False
        with onchain("register station"):
            self.market.register_station(station_id, meter_key, sender=self.address)
        return True

    def grant_station(self, station_id: str, fsp: str) -> None:
        """Grant this CPO's station to the FSP it has a contract with (one FSP at a time)."""
        with onchain("grant station"):
            self.market.grant_station(station_id, fsp, sender=self.address)

    def dispute(self, session_id: str, reason: str) -> str:
        """Dispute a VERIFIED session inside its challenge window; returns the reason hash."""
        if not reason.strip():
            raise ParticipantError("reason", "a dispute needs a reason")
        reason_hash = keccak(text=reason)
        with onchain("dispute"):
            self.market.dispute(uuid_to_bytes32(session_id), reason_hash, sender=self.address)
        return hex32(reason_hash)
