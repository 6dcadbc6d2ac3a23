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
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.engine.scoring import face_terms_for
from faceledger.engine.types import Face
from faceledger.sql import migrate
from faceledger.sql.postgres import Connection, lock_key
from faceledger.store import pgvector
from faceledger.store.base import FaceRecord
from faceledger.store.index import ExactIndex
from faceledger.store.sqlite import SQLiteStore, _Collection

STORE_LOCK = "faceledger.store"

BIOMETRIC_TABLES = ("faces", "face_crops")


class PostgresStore(SQLiteStore):
    """A :class:`FaceStore` in a PostgreSQL database; any number of processes may open it."""

    def __init__(
        self,
        url: str,
        *,
        path: str | Path | None = None,
        index_options: dict[str, object] | None = None,
        approximate_options: dict[str, object] | None = None,
    ) -> None:
        self.url = url
        # the data folder still holds files (video spools): ``path`` is where the SQLite file
        # would be, so ``path.parent`` is that folder, as for the SQLite store
        self.path = Path(path) if path is not None else None  # type: ignore[assignment]
        self._conn = Connection(url, lock_key=lock_key(STORE_LOCK))  # type: ignore[assignment]
        self._init_state(index_options, approximate_options)
        migrate.upgrade("store", self._conn, url=url)
        self._load_secrets()
        self._pgvector = pgvector.has_vector_column(self._conn)
        self._hnsw: set[int] = set()

    def add_image_faces(
        self, tenant_id: str, collection_id: str, *, faces: Sequence[Face], **kw: Any
    ) -> list[FaceRecord]:
        with self._write() as c:
            records = super().add_image_faces(tenant_id, collection_id, faces=faces, **kw)
            if self._pgvector and records:  # the same transaction: both copies or neither
                c.executemany(
                    "UPDATE faces SET embedding_v = ?::vector WHERE face_id = ?",
                    [
                        (pgvector.literal(f.embedding), r.face_id)  # type: ignore[arg-type]
                        for f, r in zip(faces, records, strict=True)
                    ],
                )
        return records

    def _nearest(
        self, col: _Collection, vec: np.ndarray, k: int, max_distance: float | None, *, exact: bool
    ) -> list[tuple[int, float]]:
        if exact or not self._hnsw_serves(col.model_id):
            return super()._nearest(col, vec, k, max_distance, exact=exact)
        return pgvector.nearest(self._conn, col.pk, vec, k, max_distance)

    def _hnsw_serves(self, model_id: str) -> bool:
        """HNSW orders by raw distances: not for a normalised scoring's collection (its
        per-face terms are the in-memory indexes'), nor without pgvector."""
        return self._pgvector and face_terms_for(model_id) is None

    def _ready_hnsw(self, tenant_id: str, collection_id: str) -> None:
        with self._read():
            col = self._collection(tenant_id, collection_id)
        pk = col.pk
        if not self._hnsw_serves(col.model_id):
            return
        if pk not in self._hnsw:
            with self._lock:
                pgvector.ensure_index(self._conn, pk)
            self._hnsw.add(pk)

    def search(self, tenant_id: str, collection_id: str, embedding: Any, **kw: Any) -> Any:
        if not kw.get("exact", True) and self._pgvector:
            self._ready_hnsw(tenant_id, collection_id)
        return super().search(tenant_id, collection_id, embedding, **kw)

    def open_index(self, tenant_id: str, collection_id: str, *, exact: bool = True) -> ExactIndex:
        if not exact and self._pgvector:  # build the HNSW index now, not on the first search
            self._ready_hnsw(tenant_id, collection_id)
        return super().open_index(tenant_id, collection_id, exact=exact)

    def _stream(self, sql: str, params: Sequence[object]) -> Any:
        return self._conn.stream(sql, params)  # type: ignore[attr-defined]

    def _engine_check(self) -> list[str]:
        return []  # PostgreSQL checks its pages itself (and data checksums, when enabled)

    def checkpoint(self) -> dict[str, int] | None:
        """After an erasure: ``VACUUM`` the tables that held the erased rows, so their space is
        reclaimed for new rows. PostgreSQL has no ``secure_delete``: the old bytes stay in the
        data files until overwritten (docs/scale.md says what that means for erasure)."""
        with self._lock:
            for table in BIOMETRIC_TABLES:
                self._conn.execute(f"VACUUM {table}")
        return None  # no write-ahead log to truncate as SQLite's (the receipt says None)
