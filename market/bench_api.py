"""``flexmarket bench api``: signed offer submissions against a running service.

Embedded anvil (roles are real on-chain roles), the API served by ``flexmarket serve`` in its
own process(es) on a loopback socket, and C client threads, each an FSP with its own key and
HTTP connection. Offers are signed before the clock starts (signing is the client's cost);
the timed part is HTTP + verification + role check + idempotency + store.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from eth_utils.crypto import keccak

from adapters.ports import free_port
from clearing.messages import FlexOffer, FlexOfferOption, IspPower
from market.api.schemas import CongestionPointCreate, SessionCreate
from market.auth import eip712
from market.client import MarketClient

ROOT = Path(__file__).resolve().parents[1]
LOAD_ISP_S = 900  # the ISP length of the load session the offers go to


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[k]


def _prepare_db(db: str, db_url: str | None, tmp: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{tmp}/bench.db"
    url = db_url or os.environ.get("FLEXMARKET_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError(
            "--db postgresql needs --db-url or FLEXMARKET_TEST_POSTGRES_URL "
            "(scripts/ci/start-postgres.sh prints one)"
        )
    from sqlalchemy import create_engine, text

    from market.store.db import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:  # the benchmark owns this database: start empty
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def run_bench(
    *,
    offers: int,
    clients: int,
    db: str,
    db_url: str | None = None,
    server_workers: int = 2,
    processes: int | None = None,
    lifecycle_workers: int = 0,
    short_sessions: int = 0,
) -> dict[str, Any]:
    """One measurement. ``processes`` N: one ``serve --workers N`` (N uvicorn processes behind
    one socket, as the kernel balances them) instead of ``server_workers`` separate servers.

    ``lifecycle_workers`` M: M ``flexmarket worker`` processes on the same store during the
    run, opening the load session and clearing ``short_sessions`` sessions whose gate closes
    a few seconds in; the chain is then counted (``market.bench_lifecycle``)."""
    from adapters.chain.anvil import AnvilNode
    from adapters.chain.client import ChainClient
    from adapters.chain.deploy import deploy_market
    from adapters.chain.toolchain import compile_contracts
    from market import bench_lifecycle as lc
    from market.store.db import upgrade

    with (
        tempfile.TemporaryDirectory(prefix="flexmarket-bench-") as tmpdir,
        AnvilNode(accounts=clients + 1) as node,
    ):
        tmp = Path(tmpdir)
        keys = node.private_keys
        chain = ChainClient(node.rpc_url, private_keys=keys, artifacts=compile_contracts())
        operator = chain.add_account(keys[0])
        contracts = deploy_market(chain, deployer=operator)
        fsp_role = contracts.market.role("FSP")
        for i, key in enumerate(keys[1:]):
            addr = chain.add_account(key)
            contracts.market.register_participant(
                addr, keccak(text=f"bench-fsp-{i}"), [fsp_role], sender=operator
            )
        deployment = contracts.deployment.save(tmp / "deployment.json")
        url = _prepare_db(db, db_url, tmp)
        upgrade(url)
        env = {
            **os.environ,
            "FLEXMARKET_DATABASE_URL": url,
            "FLEXMARKET_RPC_URL": node.rpc_url,
            "FLEXMARKET_DEPLOYMENT_FILE": str(deployment),
            "FLEXMARKET_OPERATOR_KEY": keys[0],
            "FLEXMARKET_BUNDLE_DIR": str(tmp / "bundles"),
            "FLEXMARKET_TOKEN_SECRET": "bench",
        }
        # Several independent API processes, as behind a load balancer; client c uses c % W.
        servers, bases = [], []
        workers = ["--workers", str(processes)] if processes else []
        lifecycle: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(1 if processes else server_workers):
                port = free_port()
                servers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "market.cli",
                            "serve",
                            "--port",
                            str(port),
                            *workers,
                        ],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        start_new_session=True,
                    )
                )
                bases.append(f"http://127.0.0.1:{port}")
            for base, server in zip(bases, servers, strict=True):
                _wait_healthy(base, server)
            serving = sum(_api_process_count(server.pid) for server in servers)
            op = MarketClient(bases[0], keys[0])
            op.create_congestion_point(CongestionPointCreate(code="BENCH-CP"))
            session_id, now = _open_load_session(op)
            txs_before = int(chain.rpc("eth_getTransactionCount", [operator, "latest"]), 16)
            lifecycle = lc.start_workers(lifecycle_workers, env, ROOT)
            short: list[str] = []
            if lifecycle:  # a worker is up once it opened the load session on-chain
                lc.wait_state(url, [session_id], ("OPEN",), lifecycle, timeout_s=120)
                short = lc.open_short_sessions(
                    op, short_sessions, chain_now=chain.block_timestamp()
                )
            load_before = os.getloadavg()[0]  # the figures mean little on a busy host
            result = _measure(
                bases,
                keys,
                offers=offers,
                clients=clients,
                db=db,
                session_id=session_id,
                now=now,
            )
            stored = _stored_offer_ids(url, session_id)
            accepted: set[str] = result.pop("accepted_ids")
            result.update(
                processes=processes or server_workers,
                api_processes_seen=serving,
                cpu_count=os.cpu_count(),
                load_avg_1m_before=round(load_before, 2),
                stored_rows=len(stored),
                lost=len(accepted - set(stored)),
                unexpected=len(set(stored) - accepted),
                duplicated=len(stored) - len(set(stored)),
                lifecycle_workers=lifecycle_workers,
            )
            if lifecycle_workers:
                states = lc.wait_state(
                    url, short, lc.CLEARED_STATES, lifecycle, timeout_s=120 + 5 * len(short)
                )
                result.update(
                    short_sessions=len(short),
                    short_sessions_cleared=sum(s in lc.CLEARED_STATES for s in states.values()),
                    short_session_states=sorted(states.values()),
                    **lc.chain_counts(
                        chain,
                        deploy_block=contracts.deployment.deploy_block,
                        operator=operator,
                        operator_txs_before=txs_before,
                        load_session=session_id,
                        short_sessions=short,
                    ),
                )
            return result
        finally:
            from adapters.chain.anvil import kill_process_group

            lc.stop_workers(lifecycle)
            for server in servers:
                kill_process_group(server.pid, wait=server.wait)


def _api_process_count(pid: int) -> int:
    """How many processes serve behind one ``serve``: uvicorn's spawned workers, else itself.

    Why measured, not assumed: the figure per process count is only worth something if
    that many processes really answered.
    """
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    spawned = 0
    for child in children:
        try:
            cmdline = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        spawned += "spawn_main" in cmdline and "resource_tracker" not in cmdline
    return spawned or 1


def _stored_offer_ids(url: str, session_id: str) -> list[str]:
    """Every offer row the store holds for the session, read after the servers answered."""
    from sqlalchemy import create_engine, text

    from market.store.db import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id FROM offer WHERE session_id = :s"), {"s": session_id}
            )
            return [str(r[0]) for r in rows]
    finally:
        engine.dispose()


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            err = server.stderr.read().decode() if server.stderr else ""
            raise RuntimeError(f"API server exited with {server.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("API server did not answer /health within 60 s")


def _open_load_session(op: MarketClient) -> tuple[str, int]:
    """The session the offers go to (gate closure two hours on); its id and the time now."""
    now = int(time.time())
    session_id = str(uuid.uuid4())
    op.create_session(
        SessionCreate(
            session_id=session_id,
            gate_closure=now + 7200,
            delivery_start=now + 7200,
            delivery_end=now + 7200 + 4 * 3600,
            isp_s=LOAD_ISP_S,
        )
    )
    return session_id, now


def _measure(
    bases: list[str],
    keys: tuple[str, ...],
    *,
    offers: int,
    clients: int,
    db: str,
    session_id: str,
    now: int,
) -> dict[str, Any]:
    op = MarketClient(bases[0], keys[0])
    domain = op.domain()
    fsp_keys = keys[1 : clients + 1]
    batches: list[list[tuple[str, bytes]]] = [[] for _ in range(clients)]
    for i in range(offers):
        c = i % clients
        key = fsp_keys[c]
        offer = FlexOffer(
            offer_id=str(uuid.uuid4()),
            session_id=session_id,
            fsp=eip712.address_of(key),
            congestion_point="BENCH-CP",
            direction="UP" if i % 2 else "DOWN",
            expires_at=now + 7200,
            options=(
                FlexOfferOption(
                    option_ref="a",
                    isps=tuple(
                        IspPower(isp_index=(i + k) % 16, power_w=1000 + i) for k in range(4)
                    ),
                    price_per_mwh=50_000_000 + i,
                    min_activation_ppm=1_000_000,
                ),
            ),
        )
        envelope = eip712.sign_message(
            domain,
            key,
            kind="offer",
            body=offer.model_dump(mode="json"),
            expiry=now + 3600,
            isp_s=LOAD_ISP_S,  # the load session's: the summary shows energy in Wh
        )
        batches[c].append((offer.offer_id, json.dumps(envelope).encode()))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    accepted: list[list[str]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)

    def run(c: int) -> None:
        # A plain keep-alive HTTP/1.1 connection per client: the load generator should cost
        # the shared CPU as little as possible (httpx costs ~3x more per request).
        host, port = bases[c % len(bases)].removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Content-Type": "application/json"}
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            start.wait()
            for offer_id, payload in batches[c]:
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/offers", body=payload, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 201
                    if ok and response.getheader("Idempotent-Replay") is None:
                        accepted[c].append(offer_id)
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                latencies[c].append((time.perf_counter() - t0) * 1000)
                errors[c] += 0 if ok else 1
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_ms = sorted(x for per in latencies for x in per)
    replays = _replay_first_offers(bases, batches)
    return {
        "offers": offers,
        "clients": clients,
        "db": db,
        "offers_per_s": round(offers / wall, 1),
        "p50_ms": round(_percentile(all_ms, 0.50), 2),
        "p99_ms": round(_percentile(all_ms, 0.99), 2),
        "errors": sum(errors),
        "accepted": sum(len(a) for a in accepted),
        "replays_sent": len(replays),
        "replays_answered_as_replay": sum(replays),
        "accepted_ids": {i for a in accepted for i in a},
    }


def _replay_first_offers(bases: list[str], batches: list[list[tuple[str, bytes]]]) -> list[bool]:
    """Send each client's first offer again on a fresh connection (another process, likely).

    A retrying client must get the stored answer back (``Idempotent-Replay``), never a second
    row: the row count after the run shows it. Not timed.
    """
    answers = []
    for c, batch in enumerate(b for b in batches if b):
        host, port = bases[(c + 1) % len(bases)].removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(
                "POST", "/offers", body=batch[0][1], headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            response.read()
            answers.append(
                response.status == 201 and response.getheader("Idempotent-Replay") == "true"
            )
        finally:
            conn.close()
    return answers
