"""``flexmarket audit`` runs in a process where the market database cannot even be imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from audit_helpers import stage

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Makes every import of the store or a database library fail, then runs the real CLI entry point.
WRAPPER = r"""
import importlib.abc, sys
BLOCKED = ("sqlmodel", "sqlalchemy", "alembic", "psycopg", "psycopg2", "sqlite3")
class NoDatabase(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        store = name == "market.store" or name.startswith("market.store.")
        if name.split(".")[0] in BLOCKED or store:
            raise ModuleNotFoundError(f"database absent: {name}", name=name)
        return None
sys.meta_path.insert(0, NoDatabase())
sys.argv = ["flexmarket", *sys.argv[1:]]
from market.cli import main
try:
    main()
finally:
    leaked = [m for m in sys.modules if m.split(".")[0] in BLOCKED or m.startswith("market.store")]
    if leaked:
        print("LEAKED", leaked, file=sys.stderr)
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        capture_output=True,
        text=True,
        timeout=150,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "250",
            "FLEXMARKET_DATABASE_URL": "sqlite:////nonexistent/x.db",
        },
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[4]),
    )


def test_audit_cli_runs_without_the_database(chain, tmp_path) -> None:
    from audit_helpers import Route

    route = Route(name="dir", folder=tmp_path, bundles=str(tmp_path))
    staged = stage(chain, route)
    common = ["audit", "--rpc", chain.node.rpc_url, "--market", chain.contracts.market.address]
    done = run_cli(*common, "--bundles", str(tmp_path), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "LEAKED" not in done.stderr
    report = json.loads(done.stdout)
    assert report["result"] == "pass"
    assert [s["session_id"] for s in report["sessions"]] == [staged.session_id]

    human = run_cli(*common, "--bundles", str(tmp_path))
    assert human.returncode == 0 and "PASS" in human.stdout

    staged.path("result").unlink()
    missing = run_cli(*common, "--bundles", str(tmp_path))
    assert missing.returncode == 2 and "COULD NOT RUN" in missing.stdout
    assert "result bundle" in missing.stdout
