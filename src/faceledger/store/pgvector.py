"""The opt-in approximate search on PostgreSQL: pgvector's HNSW, one partial index per
collection.

Each face's embedding is kept twice on PostgreSQL: the exact bytes (``embedding``, what the
in-memory exact index and every other engine read) and a ``vector(128)`` (``embedding_v``)
written in the same transaction. An approximate search (``exact=False``) orders a collection's
faces by ``embedding_v <-> query`` through an HNSW index *on that collection only*
(``... WHERE collection_pk = N``): the tenant and collection filter is the index itself, so the
scan never runs out of candidates after filtering (pgvector before 0.8 has no iterative scans),
and ``hnsw.ef_search`` is raised to at least ``2k`` so ``k`` results can come back. Distances
are pgvector's float32 Euclidean distances, the same measure as the exact index's. The index is
built on the collection's first approximate search (``CREATE INDEX IF NOT EXISTS``; minutes for
a million faces: build it ahead with ``open_index(..., exact=False)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DIM = 128
EF_SEARCH_MIN = 100
EF_SEARCH_MAX = 1000  # pgvector's limit


def add_vector_column(bind: Any) -> bool:
    """In a migration: create the extension and the column when pgvector is available; fill the
    column for faces stored before. False (and nothing changed) when it is not available."""
    if not bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).first():
        return False
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception:  # noqa: BLE001 - e.g. not allowed to create extensions: stay in memory
        savepoint.rollback()
        return False
    savepoint.commit()
    bind.exec_driver_sql(f"ALTER TABLE faces ADD COLUMN IF NOT EXISTS embedding_v vector({DIM})")
    rows = bind.exec_driver_sql(
        "SELECT seq, embedding FROM faces WHERE embedding_v IS NULL"
    ).fetchall()
    for seq, blob in rows:
        bind.exec_driver_sql(
            "UPDATE faces SET embedding_v = %(v)s::vector WHERE seq = %(s)s",
            {"v": literal(np.frombuffer(blob, dtype=np.float32)), "s": seq},
        )
    return True


def literal(vec: np.ndarray) -> str:
    """pgvector's text form of an embedding (shortest float32 round-trip per component)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vec, dtype=np.float32)) + "]"


def has_vector_column(conn: Any) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'faces' AND column_name = 'embedding_v'"
        ).fetchone()
    )


def index_name(collection_pk: int) -> str:
    return f"faces_hnsw_{int(collection_pk)}"


def ensure_index(conn: Any, collection_pk: int) -> None:
    """The collection's HNSW index (built now if missing; outside any transaction)."""
    pk = int(collection_pk)
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {index_name(pk)} ON faces"
        f" USING hnsw (embedding_v vector_l2_ops) WHERE collection_pk = {pk}"
    )


def nearest(
    conn: Any, collection_pk: int, vec: np.ndarray, k: int, max_distance: float | None
) -> list[tuple[int, float]]:
    """Approximate top ``k`` (seq, distance) of one collection (inside a read transaction)."""
    ef = min(EF_SEARCH_MAX, max(EF_SEARCH_MIN, 2 * int(k)))
    conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
    q = literal(vec)
    rows = conn.execute(
        "SELECT seq, embedding_v <-> ?::vector AS d FROM faces WHERE collection_pk = ?"
        " ORDER BY embedding_v <-> ?::vector LIMIT ?",
        (q, int(collection_pk), q, min(int(k), EF_SEARCH_MAX)),
    ).fetchall()
    return [(int(seq), float(d)) for seq, d in rows if max_distance is None or d <= max_distance]
