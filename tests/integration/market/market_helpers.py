"""Message builders shared by the market integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clearing.commitments import portfolio_hash, prognosis_hash
from clearing.encoding import (
    code_to_bytes32,
    uuid_to_bytes32,
)
from clearing.messages import FlexOffer, FlexOfferOption, FlexRequest, IspPower, RequestIsp
from market.api.schemas import AssetCreate, CongestionPointCreate, ParticipantCreate, SessionCreate
from market.client import MarketClient, offer_commitment
from market.lifecycle.worker import CRASH_ENV, Worker
from market.runtime import Runtime

CP = "EAN-CP-0001"
ROOT = Path(__file__).resolve().parents[3]  # the repository


def new_id() -> str:
    return str(uuid.uuid4())


def open_session(op: MarketClient, now: int, *, gate_in_s: int = 600) -> SessionCreate:
    gate = now + gate_in_s
    body = SessionCreate(
        session_id=new_id(),
        gate_closure=gate,
        delivery_start=gate,
        delivery_end=gate + 3600,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(body)
    return body


def setup_market(op: MarketClient) -> None:
    op.register_participant(ParticipantCreate(name="Operator"))
    op.create_congestion_point(CongestionPointCreate(code=CP, name="Feeder 1"))


def make_request(
    session_id: str, *, expires_at: int, budget_units: int = 50_000_000
) -> FlexRequest:
    return FlexRequest(
        request_id=new_id(),
        session_id=session_id,
        congestion_point=CP,
        direction="UP",
        revision=1,
        expires_at=expires_at,
        max_price_per_mwh=400_000_000,
        budget_units=budget_units,
        all_or_nothing=False,
        isps=[
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=20_000)
            for i in range(4)
        ],
    )


def escrow(chain, who: str, req: FlexRequest) -> None:
    chain.contracts.market.post_request(
        uuid_to_bytes32(req.session_id),
        uuid_to_bytes32(req.request_id),
        code_to_bytes32(req.congestion_point),
        req.canonical_hash(),
        req.budget_units,
        sender=chain.addresses[who],
    )


def make_offer(
    session_id: str,
    fsp: str,
    *,
    expires_at: int,
    request_id: str | None = None,
    power_w: int = 5_000,
    price: int = 100_000_000,
    cp: str = CP,
) -> FlexOffer:
    return FlexOffer(
        offer_id=new_id(),
        session_id=session_id,
        fsp=fsp,
        request_id=request_id,
        congestion_point=cp,
        direction="UP",
        expires_at=expires_at,
        options=[
            FlexOfferOption(
                option_ref="full",
                isps=[IspPower(isp_index=i, power_w=power_w) for i in range(4)],
                price_per_mwh=price,
                min_activation_ppm=500_000,
            )
        ],
    )


def cpo_grants(chain, station_id: str, meter_key: str, fsp: str) -> None:
    """The test CPO registers ``meter_key`` for ``station_id`` on-chain (once) and grants the
    station to the party ``fsp``: what an FSP needs before ``POST /assets`` accepts it."""
    market, cpo = chain.contracts.market, chain.addresses["cpo"]
    if not market.station(station_id).registered:
        market.register_station(station_id, _address_of(meter_key), sender=cpo)
    market.grant_station(station_id, chain.addresses[fsp], sender=cpo)


def own_station(chain, client: MarketClient, who: str, station_id: str) -> None:
    """``who`` (its ``client``) registers one 11 kW EVSE at ``station_id``, granted by the CPO."""
    cpo_grants(chain, station_id, "0x" + "44" * 20, who)
    client.register_asset(
        AssetCreate(
            asset_id=new_id(),
            congestion_point=CP,
            station_id=station_id,
            evse_id=1,
            max_import_w=11_000,
            max_export_w=0,
        )
    )


def _address_of(key: str) -> str:
    from clearing.trust import station_address

    return station_address(key)


def commit(
    chain,
    who: str,
    session_id: str,
    offers: list[FlexOffer],
    via: MarketClient | None = None,
    contracts=(),
) -> None:
    """Commit ``who``'s offers on-chain. With ``via`` (its API client) through the participant
    library, which binds the prognoses it published, its registered assets and its revenue-
    sharing ``contracts`` (posted first, as every contract the FSP has); without, with the
    hashes of no prognosis and no portfolio (tests whose delivery is not audited)."""
    if via is not None:
        from market.participant.onchain import ChainAccount
        from market.participant.participant import Participant

        account = ChainAccount(chain.contracts.market, chain.contracts.token, chain.addresses[who])
        participant = Participant(via, account)
        for signed in contracts:
            participant.post_revenue_contract(signed)
        participant.commit_offers(offers)
        return
    root, count = offer_commitment(offers)
    chain.contracts.market.commit_offers(
        uuid_to_bytes32(session_id),
        root,
        count,
        prognosis_hash(()),
        portfolio_hash(()),
        sender=chain.addresses[who],
    )


def make_worker(rt: Runtime, **kw) -> Worker:
    return Worker(
        engine=rt.engine,
        ledger=rt.ledger,
        bundles=rt.bundles,
        clock=rt.core.clock,
        meter_grace_s=60,
        **kw,
    )


def client_for(base_url: str, chain, who: str, rt: Runtime, **kw) -> MarketClient:
    return MarketClient(base_url, chain.keys[who], now=rt.core.clock.now, **kw)


def run_session_to_final(chain, runtime: Runtime, clients) -> str:
    """Operator, DSO and two FSPs run one session from scheduling to FINAL; returns its id."""
    op, dso, fsp_a, fsp_b = (clients(n) for n in ("operator", "dso", "fsp_a", "fsp_b"))
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers = {
        "fsp_a": [make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)],
        "fsp_b": [
            make_offer(s.session_id, fsp_b.address, expires_at=s.gate_closure, price=200_000_000)
        ],
    }
    for who, client in (("fsp_a", fsp_a), ("fsp_b", fsp_b)):
        for o in offers[who]:
            client.post_offer(o)
        commit(chain, who, s.session_id, offers[who])
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    chain.warp_to(s.delivery_end + 61)
    attest_in_full(chain, runtime.ledger, s.session_id, b"\x02" * 32)
    worker.run_once()
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    return s.session_id


def worker_postgres_url(url: str) -> str:
    """This pytest-xdist worker's own database on the server of ``url`` (created on first use).

    Each worker empties its database before a test (``reset_postgres``), so two workers sharing
    one database would drop each other's tables mid-test. Serial runs keep ``url`` itself.
    """
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from market.store.db import normalise_url

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def reset_postgres(url: str) -> None:
    """Empty the test database (drop and recreate the public schema)."""
    from sqlalchemy import create_engine, text

    from market.store.db import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def attest_in_full(chain, ledger, session_id: str, root: bytes) -> None:
    """The meter oracle attests every reservation as fully delivered."""
    reservations = ledger.clearing(session_id).reservations
    chain.contracts.market.contract.transact(
        "attestDelivery",
        uuid_to_bytes32(session_id),
        root,
        [r.as_abi() for r in reservations],
        [r.amount for r in reservations],
        sender=chain.addresses["oracle"],
    )


AWARD_POSITION = 2 << 248  # FlexMarket KIND_AWARD: one aggregated ERC-1155 id per holder


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` on a real loopback socket (uvicorn in a thread); yields its base URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def post_cpo_digests(cpo: MarketClient, terms, domain, received, stations) -> dict:
    """The stations' CPO (``cpo``) signs, per station of ``stations`` and ISP, the digest of
    the readings it received and posts them (``POST /sessions/{id}/readings-digests``), as
    every session's terms require; ``domain`` is (chain id, market address)."""
    from clearing.readings_digest import cpo_digests
    from clearing.settlement.delivery import required_reading_window
    from clearing.trust import secp256k1_key

    assert cpo.private_key is not None
    digests = cpo_digests(
        session_id=terms.session_id,
        readings=list(received),
        stations=set(stations),
        window=required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end),
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        key=secp256k1_key(cpo.private_key),
        domain=domain,
    )
    return cpo.post_readings_digests(terms.session_id, digests)


def worker_env(chain, settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``flexmarket worker`` process on the test's chain and store."""
    deployment = chain.contracts.deployment.save(tmp_path / "deployment.json")
    env = {
        **os.environ,
        "FLEXMARKET_DATABASE_URL": settings.database_url,
        "FLEXMARKET_RPC_URL": chain.node.rpc_url,
        "FLEXMARKET_DEPLOYMENT_FILE": str(deployment),
        "FLEXMARKET_BUNDLE_DIR": str(settings.bundle_dir),
        "FLEXMARKET_OPERATOR_KEY": chain.keys["operator"],
        "FLEXMARKET_CLOCK": "chain",
        "FLEXMARKET_WORKER_POLL_S": "0.2",
    }
    env.pop(CRASH_ENV, None)
    env.update(extra)
    return env


def worker_once(env: dict[str, str], worker_id: str | None = None) -> subprocess.Popen:
    """``flexmarket worker --once``; without ``worker_id`` it is "<host>:<pid>" (the default)."""
    if worker_id is not None:
        env = {**env, "FLEXMARKET_WORKER_ID": worker_id}
    return subprocess.Popen(
        [sys.executable, "-m", "market.cli", "worker", "--once", "--no-index"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
