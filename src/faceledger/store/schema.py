"""The store's tables, as the baseline migration creates them (``migrations/store``).

The core tables are here; each mixin module keeps its own (``sqlite_lifecycle``,
``sqlite_idempotency``, ``sqlite_crops``, ``sqlite_video``, ``sqlite_footage``) and is asked
for them by :func:`create`. Written once for SQLite; :class:`faceledger.sql.ddl.DDL` rewrites
them for PostgreSQL. A change to a table after this baseline is a new Alembic revision in
``faceledger/migrations/store/versions``, never an edit here.
"""

from __future__ import annotations

from faceledger.sql.ddl import DDL
from faceledger.store import (
    sqlite_crops,
    sqlite_footage,
    sqlite_idempotency,
    sqlite_lifecycle,
    sqlite_video,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    pk            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    model_id      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    face_count    INTEGER NOT NULL DEFAULT 0,
    image_count   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, collection_id)
);
CREATE TABLE IF NOT EXISTS users (
    pk            INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_pk INTEGER NOT NULL REFERENCES collections(pk) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (collection_pk, user_id)
);
CREATE TABLE IF NOT EXISTS images (
    collection_pk     INTEGER NOT NULL REFERENCES collections(pk) ON DELETE CASCADE,
    image_sha256      TEXT NOT NULL,
    external_image_id TEXT,
    indexed_at        TEXT NOT NULL,
    PRIMARY KEY (collection_pk, image_sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS faces (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_pk     INTEGER NOT NULL REFERENCES collections(pk) ON DELETE CASCADE,
    face_id           TEXT NOT NULL UNIQUE,
    external_image_id TEXT,
    image_sha256      TEXT NOT NULL,
    box_left INTEGER NOT NULL, box_top INTEGER NOT NULL,
    box_width INTEGER NOT NULL, box_height INTEGER NOT NULL,
    score      REAL NOT NULL,
    sharpness  REAL NOT NULL, brightness REAL NOT NULL, face_size INTEGER NOT NULL,
    yaw REAL NOT NULL, pitch REAL NOT NULL, roll REAL NOT NULL,
    user_pk    INTEGER REFERENCES users(pk) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    embedding  BLOB NOT NULL CHECK (length(embedding) = 512),
    image_width  INTEGER,
    image_height INTEGER
);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces (collection_pk, seq);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces (collection_pk, image_sha256);
CREATE INDEX IF NOT EXISTS faces_by_user ON faces (user_pk) WHERE user_pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS face_deletions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_pk INTEGER NOT NULL,
    face_seq      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deletions_by_collection ON face_deletions (collection_pk, seq);
CREATE TABLE IF NOT EXISTS audit_outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  TEXT NOT NULL UNIQUE,
    body      TEXT NOT NULL,
    staged_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


def create(ddl: DDL) -> None:
    """Create what is missing; idempotent, so it also brings a data folder written before
    migrations were versioned (SQLite ``user_version`` 1 to 3) up to the baseline."""
    counters = not ddl.postgres and _lacks(ddl, "collections", "face_count")
    ddl.run(SCHEMA)
    if counters:  # schema 1: counters kept in the row, updated in the same transactions
        ddl.add_columns(
            "collections",
            {
                "face_count": "INTEGER NOT NULL DEFAULT 0",
                "image_count": "INTEGER NOT NULL DEFAULT 0",
            },
        )
        ddl.execute(
            "UPDATE collections SET"
            " face_count = (SELECT count(*) FROM faces WHERE collection_pk = pk),"
            " image_count = (SELECT count(*) FROM images WHERE collection_pk = pk)"
        )
    ddl.add_columns("faces", {"image_width": "INTEGER", "image_height": "INTEGER"})  # schema 3
    sqlite_lifecycle.migrate(ddl)  # consents, retention, cases
    sqlite_idempotency.migrate(ddl)  # client request tokens
    sqlite_crops.migrate(ddl)  # face crops for review
    sqlite_video.migrate(ddl)  # video search jobs
    sqlite_footage.migrate(ddl)  # cameras, footage requests, shares


def _lacks(ddl: DDL, table: str, column: str) -> bool:
    have = {r[1] for r in ddl.execute(f"PRAGMA table_info({table})")}
    return bool(have) and column not in have
