"""Drop the database, reindex from chain + published bundles, compare the public state."""

from __future__ import annotations

import pytest
from market_helpers import reset_postgres, run_session_to_final
from starlette.testclient import TestClient

from market.indexer import reindex
from market.runtime import build_runtime

pytestmark = pytest.mark.integration

PUBLIC = (
    "/sessions",
    "/sessions/{id}",
    "/sessions/{id}/requests",
    "/sessions/{id}/prognoses",
    "/sessions/{id}/offers",
    "/sessions/{id}/orders",
    "/sessions/{id}/bundles/input",
    "/sessions/{id}/bundles/result",
)


def _public_state(api: TestClient, session_id: str) -> dict[str, bytes]:
    state = {}
    for path in PUBLIC:
        r = api.get(path.format(id=session_id))
        assert r.status_code == 200, (path, r.text)
        state[path] = r.content
    participants = api.get("/participants").json()
    state["roles"] = sorted((p["address"], tuple(p["roles"])) for p in participants)
    return state


def test_drop_database_reindex_gives_same_public_state(
    chain, runtime, clients, api, settings, ledger, tmp_path
) -> None:
    session_id = run_session_to_final(chain, runtime, clients)
    from market.indexer import Indexer

    Indexer(runtime.engine, ledger, chain.contracts.deployment.deploy_block).sync()
    before = _public_state(api, session_id)
    assert b'"FINAL"' in before["/sessions/{id}"]

    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/rebuilt.db"})
    if settings.database_url.startswith("postgresql"):
        runtime.engine.dispose()
        reset_postgres(settings.database_url)
        fresh = settings
    rebuilt = build_runtime(fresh, ledger=ledger, clock=runtime.core.clock)
    summary = reindex(
        rebuilt.engine,
        ledger,
        rebuilt.bundles,
        deploy_block=chain.contracts.deployment.deploy_block,
    )
    assert summary["sessions_restored"] == [session_id]
    with TestClient(rebuilt.app(), base_url="http://market.test") as api2:
        after = _public_state(api2, session_id)
    assert after == before
