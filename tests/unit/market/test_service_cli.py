"""The service commands parse and call library code (CliRunner)."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from market.cli import app


def test_db_upgrade_from_any_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here: migrations are found programmatically
    url = f"sqlite:///{tmp_path}/cli.db"
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    assert "offer" in inspect(create_engine(url)).get_table_names()


def test_commands_are_registered() -> None:
    result = CliRunner().invoke(app, ["--help"])
    for name in ("serve", "worker", "reindex", "db"):
        assert name in result.output
    bench = CliRunner().invoke(app, ["bench", "api", "--help"])
    assert bench.exit_code == 0 and "--offers" in bench.output


def test_bench_refuses_unknown_db() -> None:
    result = CliRunner().invoke(app, ["bench", "api", "--db", "oracle", "--offers", "1"])
    assert result.exit_code != 0
