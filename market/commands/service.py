"""``serve``, ``worker``, ``reindex`` and ``bench api``: argument parsing only.

Registered in market/cli.py and (``bench api``) market/commands/bench.py.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import typer

from market.settings import SettingError, Settings, refuse_default_secrets

SHUTDOWN_GRACE_S = 5

if TYPE_CHECKING:
    from market.indexer import Indexer
    from market.lifecycle.worker import Worker
    from market.runtime import Runtime


def serve(
    host: str = typer.Option(None, help="Bind address (default FLEXMARKET_HOST)."),
    port: int = typer.Option(None, help="Port (default FLEXMARKET_PORT)."),
    workers: int = typer.Option(1, min=1, help="Server processes sharing the store."),
    worker: bool = typer.Option(False, "--worker/--no-worker", help="Embed the lifecycle worker."),
) -> None:
    """Run the market API (OpenAPI at /openapi.json, docs at /docs).

    With no chain configured (no FLEXMARKET_RPC_URL, no `flexmarket chain up`), it starts its
    own anvil, deploys and uses a fresh SQLite store, all discarded on exit. Production mode
    (FLEXMARKET_MODE=production) refuses that and every default secret.
    """
    from adapters.chain.deploy import configured_rpc_url

    settings = Settings()
    refuse_default_secrets(settings)
    with ExitStack() as stack:
        if configured_rpc_url(settings.rpc_url) is None:
            if settings.deployment_file is not None:
                raise SettingError(
                    "FLEXMARKET_DEPLOYMENT_FILE",
                    "is set but no chain is: set FLEXMARKET_RPC_URL to the chain it names",
                )
            from market.embedded import embedded_market

            own_store = "database_url" not in settings.model_fields_set
            typer.echo("flexmarket: no chain configured: starting an embedded anvil", err=True)
            embedded = stack.enter_context(embedded_market(own_store=own_store))
            os.environ.update(embedded.environment())
            typer.echo(
                f"flexmarket: embedded chain {embedded.rpc_url} (chain id "
                f"{embedded.deployment.chain_id}), market {embedded.deployment.market}, "
                f"operator {embedded.operator}; everything is discarded on exit "
                "(`flexmarket chain up` keeps a chain)",
                err=True,
            )
            settings = Settings()
            # uvicorn re-raises the SIGTERM it caught once it has stopped; exit through the
            # ExitStack then, so the embedded anvil stops with us.
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if not settings.token_secret:  # development: one random secret shared by the workers
            os.environ["FLEXMARKET_TOKEN_SECRET"] = secrets.token_hex(32)
        _serve(settings, host=host, port=port, workers=workers, worker=worker)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(
    settings: Settings, *, host: str | None, port: int | None, workers: int, worker: bool
) -> None:
    """Migrate the store, say where the API listens, and run uvicorn until interrupted."""
    import uvicorn

    from market.ledger import ledger_from_settings
    from market.store.db import upgrade

    # Attach once here: a missing deployment or an unreachable chain is then one line, not a
    # traceback from inside each server process.
    ledger = ledger_from_settings(settings)
    _ = ledger.deploy_block  # the market answers at the deployed address
    upgrade(settings.database_url)
    if worker:
        os.environ["FLEXMARKET_EMBED_WORKER"] = "true"
    host, port = host or settings.host, port or settings.port
    typer.echo(
        f"flexmarket: serving http://{host}:{port} (docs at /docs), store {settings.database_url}"
    )
    uvicorn.run(
        "market.api.factory:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        http="market.api.limits:BoundedHttpToolsProtocol",
        loop="uvloop",
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.timeout_keep_alive_s,
        h11_max_incomplete_event_size=settings.max_request_head_bytes,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,  # event streams never end by themselves
    )


def worker_cmd(
    once: bool = typer.Option(False, "--once", help="Run every due step once, then exit."),
    index: bool = typer.Option(True, "--index/--no-index", help="Follow chain events too."),
) -> None:
    """Run the session lifecycle worker (safe to run several against one database)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _rt, worker, indexer = _worker_parts()
    if once:
        if index:
            indexer.sync()
        typer.echo(json.dumps({"steps": worker.run_once()}))
        return
    if index:
        worker.indexer = indexer
    stop = threading.Event()
    try:  # a failing tick is logged and retried (run_forever), never the end of the worker
        worker.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()


def reindex() -> None:
    """Rebuild public state (into an empty store) from chain events + published bundles."""
    from adapters.chain.deploy import Deployment, default_deployment_path
    from market.indexer import reindex as do_reindex
    from market.ledger import ledger_from_settings
    from market.runtime import build_runtime

    settings = Settings()
    ledger = ledger_from_settings(settings)
    rt = build_runtime(settings, ledger=ledger)
    deployment = Deployment.load(settings.deployment_file or default_deployment_path())
    summary = do_reindex(rt.engine, ledger, rt.bundles, deploy_block=deployment.deploy_block)
    typer.echo(json.dumps(summary, indent=2))


def bench_api(
    offers: int = typer.Option(5000, min=1, help="Signed offers to submit."),
    clients: int = typer.Option(8, min=1, help="Concurrent clients (one FSP key each)."),
    db: str = typer.Option("sqlite", help="sqlite or postgresql."),
    db_url: str = typer.Option(
        None, help="PostgreSQL URL (default $FLEXMARKET_TEST_POSTGRES_URL)."
    ),
    server_workers: int = typer.Option(2, min=1, help="API server processes."),
    processes: str = typer.Option(
        None,
        help="Comma-separated uvicorn process counts, e.g. 1,2,4: one `serve --workers N` "
        "per count (instead of --server-workers), one JSON line each.",
    ),
    workers: int = typer.Option(
        1,
        min=0,
        max=16,
        help="Lifecycle worker processes (`flexmarket worker`) on the same store during the run.",
    ),
    sessions: int = typer.Option(
        4,
        min=0,
        max=200,
        help="Short sessions the lifecycle workers open, close and clear during the run.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Signed offer submissions against a running service on an embedded chain.

    Each result counts the offers the API accepted against the rows the store holds
    (`lost`, `unexpected`, `duplicated` must be 0) and re-sends one offer per client
    (`replays_answered_as_replay`). With --workers M, M lifecycle workers (sharing the
    operator key) open the load session and clear --sessions short sessions meanwhile; the
    chain's events per session and the operator's transactions are counted against once each
    (`posted_twice`, `not_posted`, `operator_txs_sent` vs `operator_txs_expected`). Exit 1 if
    any offer was lost or duplicated or anything was posted twice or not at all.
    """
    from market.bench_api import run_bench

    if db not in ("sqlite", "postgresql"):
        raise typer.BadParameter("must be sqlite or postgresql", param_hint="--db")
    counts = _process_counts(processes)
    bad = False
    runs: list[int | None] = list(counts) or [None]
    for count in runs:
        result = run_bench(
            offers=offers,
            clients=clients,
            db=db,
            db_url=db_url,
            server_workers=server_workers,
            processes=count,
            lifecycle_workers=workers,
            short_sessions=sessions if workers else 0,
        )
        typer.echo(json.dumps(result) if as_json or counts else json.dumps(result, indent=2))
        bad = bad or bool(result["lost"] or result["duplicated"] or result["unexpected"])
        bad = bad or bool(result.get("posted_twice") or result.get("not_posted"))
        bad = bad or result.get("operator_txs_sent") != result.get("operator_txs_expected")
    if bad:
        raise typer.Exit(code=1)


def _process_counts(text: str | None) -> list[int]:
    if text is None:
        return []
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(c < 1 or c > 64 for c in counts):
        raise typer.BadParameter(
            f"{text!r}: give process counts from 1 to 64, comma-separated (e.g. 1,2,4)",
            param_hint="--processes",
        )
    return counts


def _worker_parts() -> tuple[Runtime, Worker, Indexer]:
    """The runtime, the lifecycle worker and the chain indexer, wired from the settings."""
    from adapters.chain.deploy import Deployment, default_deployment_path
    from market.indexer import Indexer
    from market.ledger import ledger_from_settings
    from market.lifecycle.worker import Worker
    from market.runtime import attach_settlement, build_runtime

    settings = Settings()
    refuse_default_secrets(settings)
    ledger = ledger_from_settings(settings)
    rt = build_runtime(settings, ledger=ledger)
    worker_id: dict[str, Any] = {"worker_id": settings.worker_id} if settings.worker_id else {}
    worker = Worker(
        engine=rt.engine,
        ledger=ledger,
        bundles=rt.bundles,
        clock=rt.core.clock,
        meter_grace_s=settings.meter_grace_s,
        poll_s=settings.worker_poll_s,
        readings_digests_required=settings.readings_digests_required,
        **worker_id,
    )
    attach_settlement(worker, settings, ledger=ledger)
    deployment = Deployment.load(settings.deployment_file or default_deployment_path())
    indexer = Indexer(
        rt.engine,
        ledger,
        deployment.deploy_block,
        roles=rt.core.roles,
        confirmations=settings.confirmations,
    )
    return rt, worker, indexer
