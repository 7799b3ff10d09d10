"""App factory for uvicorn (``--factory``), so several server processes can share one store."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from clearing.json_limits import restore_recursion_limit
from market.settings import Settings, refuse_default_secrets


def create_app_from_env() -> FastAPI:
    """Build the API from ``FLEXMARKET_*`` settings; embeds the worker when configured."""
    from market.ledger import ledger_from_settings
    from market.runtime import build_runtime

    settings = Settings()
    refuse_default_secrets(settings)  # also when uvicorn is pointed at this factory directly
    ledger = ledger_from_settings(settings)
    rt = build_runtime(settings, ledger=ledger, migrate=False)
    worker = None
    if settings.embed_worker:
        from adapters.chain.deploy import Deployment, default_deployment_path
        from market.indexer import Indexer
        from market.lifecycle.worker import Worker

        deployment = Deployment.load(settings.deployment_file or default_deployment_path())
        named: dict[str, Any] = {"worker_id": settings.worker_id} if settings.worker_id else {}

        worker = Worker(
            engine=rt.engine,
            ledger=ledger,
            bundles=rt.bundles,
            clock=rt.core.clock,
            meter_grace_s=settings.meter_grace_s,
            poll_s=settings.worker_poll_s,
            readings_digests_required=settings.readings_digests_required,
            indexer=Indexer(
                rt.engine,
                ledger,
                deployment.deploy_block,
                roles=rt.core.roles,
                confirmations=settings.confirmations,
            ),
            **named,
        )
    app = rt.app(worker=worker)
    restore_recursion_limit()  # each server process imports the chain stack (py_ecc) itself
    return app
