"""Shared pieces of the UFTP gateway tests: keys, the gateway on a socket, and the independent
peers (``shapeshifter-uftp``'s own AGR and DSO services, subclassed only to script answers).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import uvicorn
from coincurve import PrivateKey
from fastapi.dependencies import models as fastapi_models
from nacl.signing import SigningKey
from shapeshifter_uftp import ShapeshifterAgrService, ShapeshifterDsoService
from shapeshifter_uftp.uftp import (
    AvailableRequested,
    DPrognosis,
    DPrognosisISP,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOrder,
    FlexOrderISP,
    FlexOrderResponse,
    FlexOrderSettlementStatus,
    FlexRequest,
    FlexRequestISP,
    FlexSettlement,
    FlexSettlementResponse,
)
from sqlmodel import Session

from adapters.ports import free_port
from clearing.settlement.meter import SignedMeterReading, sign_reading
from market.store import models as m
from market.uftp.binding import sign_binding
from market.uftp.config import parse_config
from market.uftp.context import GatewayContext
from market.uftp.convert import Window
from market.uftp.gateway import PATH, UftpGateway, create_app
from market.uftp.journal import Journal
from market.uftp.onboarding import check_peers

# shapeshifter-uftp 2.4 routes through fastapi-xml 1.1.2, which reads
# ``Dependant.is_coroutine_callable``; FastAPI 0.165 computes it with a module function instead.
# The peers run the library's own service code; only this attribute is given back to them.
if not hasattr(fastapi_models.Dependant, "is_coroutine_callable"):
    fastapi_models.Dependant.is_coroutine_callable = property(  # type: ignore[attr-defined]
        lambda self: fastapi_models._is_coroutine_callable(self.call)
    )

MARKET_DOMAIN = "market.flexmarket.example"
AGR_DOMAIN = "agr.example.com"
DSO_DOMAIN = "dso.example.com"
UFTP_CP = "ean.871685900000000001"
TZ = "Europe/Amsterdam"


@dataclass(frozen=True)
class UftpKey:
    """An Ed25519 key pair in the library's format (base64 64-byte secret, 32-byte public)."""

    private: str
    public: str

    @classmethod
    def generate(cls) -> UftpKey:
        sk = SigningKey.generate()
        secret = bytes(sk) + bytes(sk.verify_key)
        return cls(b64encode(secret).decode(), b64encode(bytes(sk.verify_key)).decode())


def same_day_gate(now: int, isp_s: int = 900, length_s: int = 3600) -> int:
    """A gate closure (= delivery start) ``>= now + 600`` whose delivery stays in one local day."""
    gate = now + 600
    gate -= gate % isp_s
    gate += isp_s
    zone = ZoneInfo(TZ)
    while (
        dt.datetime.fromtimestamp(gate, zone).date()
        != dt.datetime.fromtimestamp(gate + length_s - 1, zone).date()
    ):
        gate += isp_s
    return gate


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """An ASGI app on a loopback socket; yields its base URL."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def peer_entry(
    *,
    chain: Any,
    who: str,
    domain: str,
    role: str,
    key: UftpKey,
    endpoint: str,
    **extra: Any,
) -> dict[str, Any]:
    """A uftp.yaml peer: the binding the participant signs at onboarding, plus its endpoint."""
    binding = sign_binding(
        chain.keys[who],
        chain_id=chain.client.chain_id,
        market=chain.contracts.market.address,
        domain=domain,
        role=role,
        public_key=key.public,
    )
    return {**binding, "endpoint": endpoint, "key_env": f"UFTP_TEST_{who.upper()}", **extra}


@dataclass
class Gateway:
    gateway: UftpGateway
    url: str
    events: list[dict[str, Any]]


@contextmanager
def run_gateway(
    *, api: str, chain: Any, key: UftpKey, peers: list[dict[str, Any]], tmp: Path, **over: Any
) -> Iterator[Gateway]:
    """The gateway (library objects, as ``flexmarket uftp serve`` builds them) on a socket."""
    cfg = parse_config(
        {
            "api_url": api,
            "rpc_url": chain.node.rpc_url,
            "domain": MARKET_DOMAIN,
            "signing_key_env": "UFTP_TEST_SIGNING_KEY",
            "time_zone": TZ,
            "state_path": str(tmp / "uftp.sqlite"),
            "congestion_points": {UFTP_CP: "EAN-CP-0001"},
            "peers": peers,
            **over,
        }
    )
    by_address = {chain.addresses[n].lower(): k for n, k in chain.keys.items()}
    market_keys = {(p.domain, p.role): by_address[p.address] for p in cfg.peers}
    market = chain.contracts.market
    check_peers(
        cfg,
        chain_id=chain.client.chain_id,
        market=market.address,
        market_keys=market_keys,
        has_role=lambda role, address: market.has_role(market.role(role), address),
    )
    events: list[dict[str, Any]] = []
    ctx = GatewayContext(
        cfg=cfg,
        signing_key=key.private,
        market_keys=market_keys,
        journal=Journal(cfg.state_path),
        log=events.append,
    )
    gw = UftpGateway(ctx)
    with serve(create_app(gw)) as url:
        yield Gateway(gw, url + PATH, events)
    ctx.journal.close()


# ---- the market's metering path (the AGR's charge points, outside UFTP) ------------------------

STATION = "ST-UFTP"
STATION_KEY = "0x" + "33" * 32


def meter_public_key() -> str:
    return "0x" + PrivateKey(bytes.fromhex(STATION_KEY[2:])).public_key.format(False).hex()


def store_station_readings(
    engine: Any, start: int, power_by_isp: list[int]
) -> list[SignedMeterReading]:
    """Station-signed cumulative import readings every 300 s around the delivery window, as
    the CSMS's sink stores them: the market verifies delivery from these; returned too (the
    CPO's digests cover them)."""
    out: list[SignedMeterReading] = []
    register, t = 100_000, start - 900
    end = start + 900 * len(power_by_isp)
    with Session(engine) as db:
        while t <= end + 900:
            r = sign_reading(
                STATION_KEY, station=STATION, evse=1, timestamp=t, import_wh=register, export_wh=0
            )
            out.append(r)
            db.add(
                m.MeterReading(
                    station_id=r.station,
                    evse_id=r.evse,
                    timestamp=r.timestamp,
                    import_wh=r.import_wh,
                    export_wh=r.export_wh,
                    signature=r.signature,
                    protocol="test",
                )
            )
            isp = (t - start) // 900
            power = power_by_isp[isp] if 0 <= isp < len(power_by_isp) else power_by_isp[0]
            register += power * 300 // 3600
            t += 300
        db.commit()
    return out


# ---- the independent AGR -----------------------------------------------------------------------


@dataclass
class AgrScript:
    """What the test AGR does: offers ``power_w`` per requested ISP at ``price`` (EUR)."""

    bid: bool = True
    power_w: int = 5_000
    price: Decimal = Decimal("0.5000")
    received: list[Any] = field(default_factory=list)


class TestAgr(ShapeshifterAgrService):
    """``shapeshifter-uftp``'s AGR service: answers a FlexRequest with a D-Prognosis and a
    FlexOffer, accepts its FlexOrders and its FlexSettlement."""

    __test__ = False

    def __init__(self, script: AgrScript, **kw: Any) -> None:
        super().__init__(**kw)
        self.script = script

    def process_flex_request(self, message: Any) -> None:
        self.script.received.append(message)
        if not self.script.bid:
            return
        requested = [i for i in message.isps if i.disposition == "Requested"]
        client = self.dso_client(message.sender_domain)
        client.send_d_prognosis(
            DPrognosis(
                isp_duration=message.isp_duration,
                time_zone=message.time_zone,
                period=message.period,
                congestion_point=message.congestion_point,
                revision=1,
                isps=[DPrognosisISP(power=20_000, start=i.start) for i in requested],
            )
        )
        client.send_flex_offer(
            FlexOffer(
                isp_duration=message.isp_duration,
                time_zone=message.time_zone,
                period=message.period,
                congestion_point=message.congestion_point,
                expiration_date_time=message.expiration_date_time,
                flex_request_message_id=message.message_id,
                offer_options=[
                    FlexOfferOption(
                        option_reference="all",
                        price=self.script.price,
                        isps=[
                            FlexOfferOptionISP(power=-self.script.power_w, start=i.start)
                            for i in requested
                        ],
                    )
                ],
            )
        )

    def process_flex_order(self, message: Any) -> None:
        self.script.received.append(message)
        self.dso_client(message.sender_domain).send_flex_order_response(
            FlexOrderResponse(
                conversation_id=message.conversation_id,
                flex_order_message_id=message.message_id,
                result="Accepted",
            )
        )

    def process_flex_settlement(self, message: Any) -> None:
        self.script.received.append(message)
        self.dso_client(message.sender_domain).send_flex_settlement_response(
            FlexSettlementResponse(
                conversation_id=message.conversation_id,
                flex_settlement_message_id=message.message_id,
                result="Accepted",
                flex_order_settlement_statuses=[
                    FlexOrderSettlementStatus(
                        order_reference=line.order_reference, disposition="Accepted"
                    )
                    for line in message.flex_order_settlements
                ],
            )
        )

    def _note(self, message: Any) -> None:
        self.script.received.append(message)

    process_d_prognosis_response = _note
    process_flex_offer_response = _note
    process_flex_offer_revocation_response = _note
    process_flex_reservation_update = _note
    process_metering_response = _note
    process_agr_portfolio_query_response = _note
    process_agr_portfolio_update_response = _note


def received(script: AgrScript, kind: str) -> list[Any]:
    return [m for m in script.received if type(m).__name__ == kind]


# ---- the independent DSO -----------------------------------------------------------------------


class TestDso(ShapeshifterDsoService):
    """``shapeshifter-uftp``'s DSO service: orders every FlexOffer it gets as offered. It also
    takes a FlexSettlement (the library routes that message only DSO -> AGR; here the market,
    the DSO's counterparty, sends it the settlement with the on-chain references)."""

    __test__ = False
    acceptable_messages: ClassVar[list[type]] = [
        *ShapeshifterDsoService.acceptable_messages,
        FlexSettlement,
    ]

    def __init__(self, received: list[Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.received = received

    def process_flex_offer(self, message: Any) -> None:
        self.received.append(message)
        (option,) = message.offer_options
        self.agr_client(message.sender_domain).send_flex_order(
            FlexOrder(
                isp_duration=message.isp_duration,
                time_zone=message.time_zone,
                period=message.period,
                congestion_point=message.congestion_point,
                isps=[FlexOrderISP(power=i.power, start=i.start) for i in option.isps],
                flex_offer_message_id=message.message_id,
                price=option.price,
                currency="EUR",
                order_reference=str(uuid.uuid4()),
                option_reference=option.option_reference,
                activation_factor=Decimal("1.00"),
            )
        )

    def process_flex_settlement(self, message: Any) -> None:
        self.received.append(message)

    def _note(self, message: Any) -> None:
        self.received.append(message)

    process_d_prognosis = _note
    process_flex_request_response = _note
    process_flex_order_response = _note
    process_flex_offer_revocation = _note
    process_flex_reservation_update_response = _note
    process_flex_settlement_response = _note
    process_dso_portfolio_query_response = _note
    process_dso_portfolio_update_response = _note
    process_metering = _note


def uftp_request(window: Window, *, expires: int) -> FlexRequest:
    """A UFTP DSO's FlexRequest: up to 20 kW less consumption in every ISP of ``window``."""
    return FlexRequest(
        isp_duration=window.isp_duration(),
        time_zone=TZ,
        period=window.period(),
        congestion_point=UFTP_CP,
        revision=1,
        expiration_date_time=dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(),
        isps=[
            FlexRequestISP(
                disposition=AvailableRequested.REQUESTED,
                min_power=-20_000,
                max_power=0,
                start=window.uftp_start(k),
            )
            for k in range(window.n_isps)
        ],
    )


def of_kind(messages: list[Any], kind: str) -> list[Any]:
    return [m for m in messages if type(m).__name__ == kind]
