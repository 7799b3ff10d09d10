"""The ``flexmarket db`` group: the store's schema (Alembic migrations); parsing only."""

from __future__ import annotations

import typer

from market.settings import Settings

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(
    url: str = typer.Option(None, help="Database URL (default FLEXMARKET_DATABASE_URL)."),
    revision: str = typer.Option("head", help="Target revision."),
) -> None:
    """Migrate the schema to the latest revision (works from any directory)."""
    from market.store.db import upgrade

    target = url or Settings().database_url
    upgrade(target, revision)
    typer.echo(f"database at {target.split('@')[-1]} is at revision {revision}")
