"""``faceledger db status|upgrade``: where the data lives and its schema revisions (Alembic)."""

from __future__ import annotations

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import handle_errors, print_json

app = typer.Typer(
    help="The databases: SQLite files in the data folder, or PostgreSQL (FACELEDGER_DATABASE_URL).",
    no_args_is_help=True,
)


def _describe(data_dir: DataDirOpt, *, migrate_now: bool) -> dict[str, object]:
    from faceledger.governance.db import GovernanceDB
    from faceledger.governance.paths import governance_db_path
    from faceledger.settings import store_path
    from faceledger.sql.migrate import HEADS, current
    from faceledger.sql.postgres import Connection
    from faceledger.sql.url import database_url, redacted

    url = database_url()
    where: dict[str, str] = (
        {"store": redacted(url), "governance": redacted(url)}
        if url
        else {"store": str(store_path(data_dir)), "governance": str(governance_db_path(data_dir))}
    )
    if migrate_now:
        from faceledger.store import open_store

        GovernanceDB(governance_db_path(data_dir)).close()
        open_store(store_path(data_dir)).close()
    revisions: dict[str, str | None] = {}
    for kind in ("store", "governance"):
        if url:
            conn = Connection(url, lock_key=0)
        else:
            import sqlite3

            path = store_path(data_dir) if kind == "store" else governance_db_path(data_dir)
            if not path.exists():
                revisions[kind] = None
                continue
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            revisions[kind] = current(conn, kind, postgres=url is not None)
        finally:
            conn.close()
    return {
        "backend": "postgresql" if url else "sqlite",
        "where": where,
        "revisions": revisions,
        "heads": dict(HEADS),
        "up_to_date": all(revisions[k] == HEADS[k] for k in HEADS),
    }


def _print(info: dict[str, object]) -> None:
    typer.echo(f"backend: {info['backend']}")
    for kind, rev in info["revisions"].items():  # type: ignore[attr-defined]
        head = info["heads"][kind]  # type: ignore[index]
        state = "up to date" if rev == head else f"behind (head {head})"
        typer.echo(f"{kind}: {info['where'][kind]} at {rev or 'nothing yet'}, {state}")  # type: ignore[index]


@app.command("status")
@handle_errors
def status_command(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """Which databases the data folder uses and the revision each schema is at."""
    info = _describe(data_dir, migrate_now=False)
    print_json(info) if json_out else _print(info)
    if not info["up_to_date"]:
        raise typer.Exit(1)


@app.command("upgrade")
@handle_errors
def upgrade_command(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """Create or migrate both databases to the newest revision now (opening them does the
    same; run this before starting several servers on a new version)."""
    info = _describe(data_dir, migrate_now=True)
    print_json(info) if json_out else _print(info)
