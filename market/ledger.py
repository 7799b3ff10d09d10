"""The market service's view of the chain: roles, session state, and the operator's transactions.

Everything the API and the worker need from the FlexMarket contract goes through here, so the
rest of the service speaks in UUIDs and the chain adapter's types.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.chain.client import ChainClient, DecodedEvent, TxResult
from adapters.chain.commitment_sig import SignedCommitment
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.market_lists import reservation_from_abi
from adapters.chain.session_view import ChainRequest, ChainSession
from adapters.chain.types import Reservation
from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import FlexRequest
from market.errors import ChainMismatch, StationNotGranted
from market.roles import ROLE_NAMES, role_id

log = logging.getLogger(__name__)
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class ClearingRecord:
    """What ``postClearing`` anchored, read back from its ClearingPosted event."""

    input_hash: bytes
    result_root: bytes
    reservations: tuple[Reservation, ...]


@dataclass(frozen=True)
class PayoutRecord:
    """The latest attested (or arbiter-resolved) delivery root and payouts."""

    delivery_root: bytes
    payouts: tuple[int, ...]


@dataclass
class Ledger:
    """FlexMarket on one chain, with the operator's signing address (if this process has it)."""

    client: ChainClient
    market: FlexMarketContract
    operator: str | None = None

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def market_address(self) -> str:
        return self.market.address

    def chain_time(self) -> int:
        return self.client.block_timestamp()

    # ---- reads ------------------------------------------------------------------------------

    def roles_of(self, address: str) -> set[str]:
        return {name for name in ROLE_NAMES if self.market.has_role(role_id(name), address)}

    def session(self, session_id: str) -> ChainSession:
        return self.market.session(uuid_to_bytes32(session_id))

    @property
    def deploy_block(self) -> int:
        return self.market.deploy_block

    def session_events(self, name: str, session_id: str) -> list[DecodedEvent]:
        """Events ``name`` of one session (first indexed argument), oldest first."""
        topic = hex32(uuid_to_bytes32(session_id))
        events = self.client.get_events(
            name, self.deploy_block, address=self.market_address, topics=[topic]
        )
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def clearing(self, session_id: str) -> ClearingRecord | None:
        events = self.session_events("ClearingPosted", session_id)
        if not events:
            return None
        args = events[-1].args
        return ClearingRecord(
            input_hash=bytes(args["inputHash"]),
            result_root=bytes(args["resultRoot"]),
            reservations=tuple(reservation_from_abi(r) for r in args["reservations"]),
        )

    def payouts(self, session_id: str) -> PayoutRecord | None:
        events = self.session_events("DeliveryAttested", session_id) + self.session_events(
            "DisputeResolved", session_id
        )
        if not events:
            return None
        last = max(events, key=lambda e: (e.block_number, e.log_index))
        root_key = "deliveryRoot" if last.name == "DeliveryAttested" else "correctedRoot"
        return PayoutRecord(bytes(last.args[root_key]), tuple(int(p) for p in last.args["payouts"]))

    def request_ids(self, session_id: str) -> list[bytes]:
        """Every request of the session in posting order (cancelled ones too)."""
        return [
            bytes(e.args["requestId"]) for e in self.session_events("RequestPosted", session_id)
        ]

    def request(self, request_id: str) -> ChainRequest:
        return self.market.request(uuid_to_bytes32(request_id))

    def offer_root(self, session_id: str, fsp: str) -> bytes:
        """The FSP's committed offer root (zero if none); the root fixes the count too."""
        return self.market.offer_root(uuid_to_bytes32(session_id), fsp)

    def check_request_escrow(self, body: FlexRequest, signer: str) -> None:
        """Refuse a FlexRequest whose escrow is not on-chain exactly as the message says."""
        info = self.request(body.request_id)
        field = "body.request_id"
        if info.dso == ZERO_ADDRESS or int(info.dso, 16) == 0:
            raise ChainMismatch("no escrow posted on-chain for this request id", field=field)
        if info.dso.lower() != signer:
            raise ChainMismatch(f"on-chain request belongs to {info.dso}", field=field)
        if info.cancelled:
            raise ChainMismatch("the on-chain request was cancelled", field=field)
        if info.session_index != self.session(body.session_id).index:
            raise ChainMismatch("on-chain request is in another session", field="body.session_id")
        if bytes(info.request_hash) != body.canonical_hash():
            raise ChainMismatch(
                f"on-chain requestHash {hex32(info.request_hash)} != keccak256 of this body "
                f"{hex32(body.canonical_hash())}",
                field="body",
            )
        if info.budget != body.budget_units:
            raise ChainMismatch(
                f"on-chain budget {info.budget} != {body.budget_units}", field="body.budget_units"
            )

    def check_station_grant(self, station_id: str, meter_key: str | None, signer: str) -> str:
        """Refuse an asset at a station the FSP has no CPO grant for; the CPO-registered key.

        The meter key is the CPO's (``registerStation``), never the FSP's: a key given in the
        asset must be that key (as an address or the public key behind it).
        """
        from clearing.trust import station_address

        record = self.market.station(station_id)
        field = "body.station_id"
        if not record.registered:
            raise StationNotGranted(
                f"station {station_id} has no meter key registered on-chain by a CPO", field=field
            )
        if record.fsp.lower() != signer.lower():
            holder = "nobody" if int(record.fsp, 16) == 0 else record.fsp
            raise StationNotGranted(
                f"station {station_id}: its CPO {record.cpo} granted it to {holder}, not to "
                f"{signer}",
                field=field,
            )
        registered = record.meter_key.lower()
        if meter_key is not None:
            try:
                given = station_address(meter_key)
            except ValueError as exc:
                raise ChainMismatch(str(exc), field="body.meter_public_key") from exc
            if given != registered:
                raise ChainMismatch(
                    f"meter key {given} is not the key {registered} the CPO registered for "
                    f"station {station_id}",
                    field="body.meter_public_key",
                )
        return registered

    # ---- operator transactions ------------------------------------------------------------

    def _sender(self) -> str:
        if self.operator is None:
            raise ChainMismatch(
                "no operator key configured (FLEXMARKET_OPERATOR_KEY)", field="settings"
            )
        return self.operator

    def create_session(
        self,
        session_id: str,
        *,
        gate_closure: int,
        delivery_start: int,
        delivery_end: int,
        isp_s: int,
        challenge_window_s: int,
        terms_hash: bytes,
    ) -> TxResult:
        return self.market.contract.transact(
            "createSession",
            uuid_to_bytes32(session_id),
            gate_closure,
            delivery_start,
            delivery_end,
            isp_s,
            challenge_window_s,
            terms_hash,
            sender=self._sender(),
        )

    def relay_commitments(self, session_id: str, signed: Sequence[SignedCommitment]) -> TxResult:
        """Relay FSP-signed commitments in one ``commitOffersBySig`` (market/relay.py)."""
        return self.market.commit_offers_by_sig(
            uuid_to_bytes32(session_id), signed, sender=self._sender()
        )

    def close_session(self, session_id: str) -> TxResult:
        return self.market.contract.transact(
            "closeSession", uuid_to_bytes32(session_id), sender=self._sender()
        )

    def post_clearing(
        self,
        session_id: str,
        *,
        input_hash: bytes,
        result_root: bytes,
        reservations: Sequence[Reservation],
    ) -> TxResult:
        return self.market.contract.transact(
            "postClearing",
            uuid_to_bytes32(session_id),
            input_hash,
            result_root,
            [r.as_abi() for r in reservations],
            sender=self._sender(),
        )

    def finalize(self, session_id: str) -> TxResult:
        """finalize() with the lists the contract only holds as hashes (read from events)."""
        clearing = self.clearing(session_id)
        payouts = self.payouts(session_id)
        reservations = clearing.reservations if clearing else ()
        return self.market.contract.transact(
            "finalize",
            uuid_to_bytes32(session_id),
            self.request_ids(session_id),
            [r.as_abi() for r in reservations],
            list(payouts.payouts) if payouts else [],
            sender=self._sender(),
        )


def ledger_from_settings(settings: Any) -> Ledger:
    """Connect to the configured chain and deployment (``flexmarket deploy`` wrote it)."""
    from adapters.chain.deploy import (
        Deployment,
        MarketContracts,
        configured_rpc_url,
        default_deployment_path,
        dev_private_keys,
    )
    from adapters.chain.fees import FeeCaps
    from adapters.chain.toolchain import compile_contracts
    from market.nonces import shared_nonces

    rpc = configured_rpc_url(settings.rpc_url)
    if rpc is None:
        raise ChainMismatch(
            "no chain configured: set FLEXMARKET_RPC_URL or run `flexmarket chain up`",
            field="settings.rpc_url",
        )
    client = ChainClient(
        rpc,
        artifacts=compile_contracts(),
        confirmations=settings.confirmations,
        fee_caps=FeeCaps(settings.max_fee_per_gas_wei, settings.max_priority_fee_per_gas_wei),
        stuck_after_s=settings.tx_stuck_after_s,
        nonces=shared_nonces(settings.database_url),
    )
    deployment = Deployment.load(settings.deployment_file or default_deployment_path())
    contracts = MarketContracts.attach(client, deployment)
    key = settings.operator_key
    dev = getattr(settings, "mode", "development") != "production"
    if key is None and dev and client.chain_id == 31337:
        key = dev_private_keys(1)[0]  # anvil's first dev key deploys and operates locally
    operator = client.add_account(key) if key else None
    return Ledger(client, contracts.market, operator=operator)
