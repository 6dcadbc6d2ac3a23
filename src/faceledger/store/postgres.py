"""The face store on PostgreSQL: the same tables, SQL and in-memory search as the SQLite store.

Chosen by ``FACELEDGER_DATABASE_URL=postgresql://...`` (:func:`faceledger.store.open_store`).
Every method is :class:`faceledger.store.sqlite.SQLiteStore`'s; what differs is the connection
(:mod:`faceledger.sql.postgres`) and three engine-specific steps below.

Writers take turns on a transaction-scoped advisory lock (``BEGIN IMMEDIATE`` in the shared
SQL), so face ``seq`` numbers are allocated and committed in order, across every server
process and machine. Each process keeps the exact in-memory index of the collections it
serves and follows committed changes exactly as on SQLite: new faces by ``seq``, deletions by
the ``face_deletions`` log, read in the same ``REPEATABLE READ`` snapshot as the search, so a
search sees every change committed before it, in any process, and nothing half-done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faceledger.sql import migrate
from faceledger.sql.postgres import Connection, lock_key
from faceledger.store.sqlite import SQLiteStore

STORE_LOCK = "faceledger.store"

BIOMETRIC_TABLES = ("faces", "face_crops")


class PostgresStore(SQLiteStore):
    """A :class:`FaceStore` in a PostgreSQL database; any number of processes may open it."""

    def __init__(
        self,
        url: str,
        *,
        index_options: dict[str, object] | None = None,
        approximate_options: dict[str, object] | None = None,
    ) -> None:
        self.url = url
        self.path = None  # type: ignore[assignment]  # nothing in the data folder
        self._conn = Connection(url, lock_key=lock_key(STORE_LOCK))  # type: ignore[assignment]
        self._init_state(index_options, approximate_options)
        migrate.upgrade("store", self._conn, url=url)
        self._load_secrets()

    def _stream(self, sql: str, params: Sequence[object]) -> Any:
        return self._conn.stream(sql, params)  # type: ignore[attr-defined]

    def _engine_check(self) -> list[str]:
        return []  # PostgreSQL checks its pages itself (and data checksums, when enabled)

    def checkpoint(self) -> dict[str, int]:
        """After an erasure: ``VACUUM`` the tables that held the erased rows, so their space is
        reclaimed for new rows. PostgreSQL has no ``secure_delete``: the old bytes stay in the
        data files until overwritten (docs/scale.md says what that means for erasure)."""
        with self._lock:
            for table in BIOMETRIC_TABLES:
                self._conn.execute(f"VACUUM {table}")
        return {"vacuumed_tables": len(BIOMETRIC_TABLES)}
