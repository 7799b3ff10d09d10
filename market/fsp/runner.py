"""The FSP gateway as one asyncio program: its CSMS, its HTTP API and the market loop.

Why one process: the CSMS acknowledges readings into the same store the relay reads, the
loop dispatches through that CSMS's live connections, and ``GET /status`` reports all three;
a supervisor (or ``flexmarket live``) starts, kills and restarts it as one unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from adapters.clock import Clock, SystemClock
from adapters.ocpp.csms import Csms
from market.clearing_house.period import SignedContract
from market.client import ApiError, MarketClient
from market.fsp.claim_contract import check_templates, claim_signer, current_template
from market.fsp.claims import ClaimDesk, OnIssue
from market.fsp.config import FspConfigError, FspGatewayConfig
from market.fsp.cpo import CpoDigests
from market.fsp.desk import MIN_TOKEN_CHARS, desk_state
from market.fsp.ev_api import gateway_app
from market.fsp.gateway import FspGateway, Log, json_log
from market.fsp.outbox import OutboxSink
from market.fsp.station_report import StationReporter
from market.fsp.status import gateway_status
from market.fsp.store import GatewayStore
from market.participant.connect import connect
from market.participant.errors import ParticipantError
from market.participant.participant import Participant


class ChainTime:
    """The chain's time (latest block), cached for ``ttl_s``: the CSMS asks on every reading
    and a test chain only moves when it is warped or mines."""

    def __init__(self, participant: Participant, ttl_s: float = 0.2) -> None:
        self._client = participant.chain.market.client
        self._ttl_s = ttl_s
        self._at = -1.0
        self._value = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            if time.monotonic() - self._at > self._ttl_s:
                self._value = float(self._client.block_timestamp())
                self._at = time.monotonic()
            return self._value

    async def sleep(self, seconds: float) -> None:
        """Until the chain's time has moved ``seconds`` on (a warped chain jumps there)."""
        await self.sleep_until(self.now() + max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        """Until the chain's time reaches ``t`` (absolute: see ``ChainTimeClock``)."""
        while self.now() < t:
            await asyncio.sleep(0.25)


async def until_work(
    wake: asyncio.Event, readings_in: asyncio.Event, poll_s: float, relay_delay_s: float
) -> None:
    """Wait for the next pass: a market event (at once), a stored reading (``relay_delay_s``
    later, so the rest of its meter interval's burst goes in the same relay; a market event
    meanwhile cuts that short), or ``poll_s`` of nothing. Readings waited a whole ``poll_s``
    in the outbox before, and ``flexmarket live`` steps delivery behind their relay."""
    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(readings_in.wait())]
    try:
        await asyncio.wait(waits, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    if readings_in.is_set() and not wake.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=relay_delay_s)


def _follow_events(
    url: str, fsp: str, loop: asyncio.AbstractEventLoop, wake: asyncio.Event, log: Log
) -> None:
    """Wake the loop on every session event (a cleared session most of all); resumes by id
    after a dropped stream. A refused stream is logged and retried: the pass polls anyway."""
    client = MarketClient(url)
    after = 0
    while True:
        try:
            for message in client.follow_events(after=after, fsp=fsp):
                after = message.id
                if message.event != "station_status":  # stations' status: nothing to do
                    loop.call_soon_threadsafe(wake.set)
        except Exception as exc:  # the stream is only a hint: never fatal
            log({"event": "events_stream_failed", "reason": f"{type(exc).__name__}: {exc}"})
            time.sleep(5.0)


def resolve_rpc_url(cfg: FspGatewayConfig) -> str:
    """``rpc_url`` of fsp.yaml, else the public RPC URL the market advertises in
    ``GET /deployment``; neither: one error naming ``rpc_url``."""
    if cfg.rpc_url is not None:
        return cfg.rpc_url
    need = "the gateway commits offers, verifies orders and withdraws on-chain: give rpc_url"
    url = cfg.market_url.rstrip("/")
    try:
        public = MarketClient(url).deployment().get("public_rpc_url")
    except (ApiError, httpx.HTTPError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParticipantError(
            "rpc_url", f"{need} (could not read {url}/deployment for a public one: {reason})"
        ) from exc
    if not public:
        raise ParticipantError("rpc_url", f"{need} (the market advertises no public_rpc_url)")
    return str(public)


def operator_token(cfg: FspGatewayConfig) -> str | None:
    """The fleet desk's token from ``ev_api.desk_token_env`` (None: the desk is off); a
    named but unset or short one stops the gateway rather than serving a guessable desk."""
    name = cfg.ev_api.desk_token_env
    if name is None:
        return None
    token = os.environ.get(name, "").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ParticipantError(
            "ev_api.desk_token_env",
            f"environment variable {name} must hold a token of at least {MIN_TOKEN_CHARS} "
            "characters",
        )
    return token


def _claim_signer(
    cfg: FspGatewayConfig,
    participant: Participant,
    key: str,
    now: Callable[[], float],
    log: Log,
    keep: Callable[[SignedContract], None],
    forget: Callable[[str], None],
) -> OnIssue | None:
    """The claims' contract signer when ``netting.templates`` names a template (each checked
    to be this FSP's), else None: issuing then answers 501 naming what to configure."""
    if cfg.netting is None or not cfg.netting.templates:
        return None
    check_templates(cfg.netting.templates, participant.address)
    return claim_signer(
        participant, key, cfg.netting.templates, cfg.netting.ev_users, now, log, keep, forget
    )


async def _serve_api(
    app: object, host: str, port: int
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))  # type: ignore[arg-type]
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise ParticipantError("ev_api.port", f"cannot serve on {host}:{port}")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, task, int(bound)


async def _report_stations(reporter: StationReporter, now: int, log: Log) -> None:
    """The stations' OCPP status to the market; a refusal is logged, never stops the loop."""
    try:
        if await asyncio.to_thread(reporter.report, now):
            log({"event": "stations_reported", "stations": len(reporter.stations)})
    except ApiError as exc:
        log({"event": "refused", "step": "station_status", "reason": str(exc), "level": "error"})
    except httpx.HTTPError as exc:
        log({"event": "refused", "step": "station_status", "reason": str(exc), "level": "error"})


async def main(
    cfg: FspGatewayConfig,
    *,
    key: str,
    passwords: dict[str, str],
    config_path: Path,
    once: bool = False,
    log: Log = json_log,
    cpo_keys: dict[str, str] | None = None,
) -> None:
    """Connect, start the CSMS and the API, register the assets, then pass until stopped.
    ``cpo_keys`` (station -> its CPO's key): the CSMS signs those stations' readings digests."""
    try:
        ssl_context = cfg.csms_ssl_context(config_path)
    except FspConfigError as exc:
        raise ParticipantError(exc.field, exc.reason) from exc
    desk_token = operator_token(cfg)
    rpc_url = await asyncio.to_thread(resolve_rpc_url, cfg)
    store = GatewayStore(cfg.database_url(config_path))
    participant = await asyncio.to_thread(connect, cfg.market_url.rstrip("/"), key, rpc_url=rpc_url)
    clock: Clock = ChainTime(participant) if cfg.clock == "chain" else SystemClock()
    readings_in = asyncio.Event()  # set when the CSMS stored a new reading: relay it soon
    store.now = clock.now
    csms = Csms(
        credentials=passwords,
        sink=OutboxSink(store, log, on_stored=readings_in.set),
        clock=clock,
        host=cfg.csms.host,
        port=cfg.csms.port,
        meter_interval_s=cfg.csms.meter_interval_s,
        call_timeout_s=30.0,
        ssl_context=ssl_context,
        security_profile=cfg.csms.security_profile,
    )
    await csms.start()
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()  # set by the market's event stream (a session's state, an order)
    gateway = FspGateway(
        cfg,
        participant,
        store,
        csms,
        clock.now,
        log,
        statements_dir=cfg.statements_path(config_path),
        woken=wake.is_set,
        cpo=CpoDigests(
            store,
            cpo_keys or {},
            cfg.market_url.rstrip("/"),
            clock.now,
            log,
            deployment=(
                (cfg.deployment.chain_id, cfg.deployment.market_address) if cfg.deployment else None
            ),
        ),
    )
    templates = cfg.netting.templates if cfg.netting is not None else []
    claims = ClaimDesk(
        store.engine,
        clock.now,
        relayer=participant.chain,
        can_issue=lambda: current_template(templates, int(clock.now())) is not None,
    )
    claims.on_issue = _claim_signer(
        cfg, participant, key, clock.now, log, claims.keep_contract, claims.forget_contract
    )
    gateway.sharing.claimed = claims.addresses
    gateway.sharing.claims = claims.kept_contracts
    app = gateway_app(
        store,
        set(cfg.ev_users),
        lambda: gateway_status(gateway),
        desk_state=lambda: desk_state(gateway),
        desk_token=desk_token,
        claims=claims,
    )
    server, api_task, api_port = await _serve_api(app, cfg.ev_api.host, cfg.ev_api.port)
    reporter = StationReporter(
        csms,
        {sid: [e.evse_id for e in st.evses] for sid, st in cfg.csms.stations.items()},
        participant.client.report_station_status,
    )
    log(
        {
            "event": "started",
            "fsp": participant.address,
            "csms_url": csms.url,
            "api_url": f"http://{cfg.ev_api.host}:{api_port}",
            "database": store.engine.url.render_as_string(hide_password=True),
        }
    )
    try:
        assets = await asyncio.to_thread(gateway.register_assets)
        log({"event": "assets", "registered": assets})
        if once:
            await gateway.run_pass()
            await _report_stations(reporter, int(clock.now()), log)
            return
        threading.Thread(
            target=_follow_events,
            args=(cfg.market_url.rstrip("/"), participant.address, loop, wake, log),
            daemon=True,
        ).start()
        while True:
            wake.clear()  # before the pass: an event during it starts the next one at once
            readings_in.clear()
            try:
                await gateway.run_pass()
            except ParticipantError as exc:
                log({"event": "pass_failed", "field": exc.field, "reason": exc.reason})
            except httpx.HTTPError as exc:
                log({"event": "pass_failed", "field": "market_url", "reason": str(exc)})
            await _report_stations(reporter, int(clock.now()), log)
            await until_work(wake, readings_in, cfg.poll_s, cfg.relay_delay_s)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await api_task
        await csms.stop()


def run_gateway(
    cfg: FspGatewayConfig,
    *,
    key: str,
    passwords: dict[str, str],
    config_path: Path,
    once: bool = False,
    cpo_keys: dict[str, str] | None = None,
) -> None:
    """Run the gateway until interrupted (``once``: one pass)."""
    asyncio.run(
        main(
            cfg,
            key=key,
            passwords=passwords,
            config_path=config_path,
            once=once,
            cpo_keys=cpo_keys,
        )
    )
