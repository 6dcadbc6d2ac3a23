"""Bring a database to the head revision of its migrations, with Alembic.

Opening a store or governance database calls :func:`upgrade`. When the version table already
names the head revision (every open but the first after an upgrade) that is one query, and
Alembic is not even imported; otherwise Alembic runs the missing revisions, with other
processes held off: a transaction-scoped advisory lock on PostgreSQL (DDL is transactional
there, so a migration commits whole or not at all), a lock file beside the SQLite file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faceledger.errors import FaceledgerError
from faceledger.settings import private_file
from faceledger.sql.ddl import DDL
from faceledger.sql.postgres import lock_key
from faceledger.sql.url import redacted

KINDS = ("store", "governance")
HEADS = {"store": "s0004", "governance": "g0002"}
"""The newest revision of each script directory (a test holds these to Alembic's heads)."""


def version_table(kind: str) -> str:
    return f"alembic_version_{kind}"


def current(conn: Any, kind: str, *, postgres: bool) -> str | None:
    """The revision a database is at (``None``: never migrated), read with its own connection."""
    table = version_table(kind)
    if postgres:
        exists = conn.execute("SELECT to_regclass(?)", (table,)).fetchone()[0]
    else:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    if not exists:
        return None
    row = conn.execute(f"SELECT version_num FROM {table}").fetchone()
    return row[0] if row else None


def upgrade(
    kind: str,
    conn: Any,
    *,
    sqlite_path: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> None:
    """Migrate the database ``conn`` is connected to (a SQLite file or a PostgreSQL URL)."""
    if kind not in KINDS:
        raise ValueError(f"unknown database kind {kind!r}")
    postgres = url is not None
    if current(conn, kind, postgres=postgres) == HEADS[kind]:
        return
    if postgres:
        run(kind, "postgresql+psycopg://" + url.split("://", 1)[1])  # type: ignore[union-attr]
    else:
        path = Path(sqlite_path).resolve()  # type: ignore[arg-type]
        with _file_lock(path.with_name(path.name + ".lock")):
            run(kind, f"sqlite:///{path}")


def run(kind: str, sa_url: str, target: str = "head") -> None:
    """Run Alembic's ``upgrade`` on one database."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError
    from sqlalchemy.pool import NullPool

    config = Config()
    config.set_main_option("script_location", f"faceledger:migrations/{kind}")
    postgres = sa_url.startswith("postgresql")
    engine = sa.create_engine(
        sa_url, poolclass=NullPool, connect_args={} if postgres else {"timeout": 60}
    )
    try:
        with engine.begin() as conn:
            if postgres:
                conn.exec_driver_sql(
                    f"SELECT pg_advisory_xact_lock({lock_key('faceledger.migrate.' + kind)})"
                )
            config.attributes["connection"] = conn
            command.upgrade(config, target)
    except CommandError as e:
        raise FaceledgerError(
            f"cannot migrate the {kind} database at {redacted(sa_url)}: {e} (was it written by"
            " a newer faceledger? upgrade faceledger, or restore a backup)",
            code="store_error",
        ) from None
    finally:
        engine.dispose()


def run_env(kind: str) -> None:
    """The body of ``migrations/<kind>/env.py``: online migrations on the given connection."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(connection=connection, version_table=version_table(kind))
    with context.begin_transaction():
        context.run_migrations()


def ddl_for(bind: Any) -> DDL:
    """A :class:`DDL` on an Alembic migration's connection."""
    return DDL(lambda sql: bind.exec_driver_sql(sql), bind.dialect.name)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    private_file(path)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
