"""The embedded default store: one SQLite file in WAL mode holds everything, embeddings included.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. In WAL mode NORMAL already survives
a crash of the *process* (the WAL is written before COMMIT returns) but may lose the last
commits on power loss or an OS crash, because the WAL is only fsynced at checkpoints. Since a
face is acknowledged to the caller as stored once its commit returns, FULL (an fsync of the WAL
per commit) is the honest setting; it costs one fsync per indexed image, small next to the
~100 ms of embedding an image takes.

Readers never block the writer nor each other (WAL); writers take ``BEGIN IMMEDIATE`` and wait
up to ``busy_timeout`` for one another. The exact search index (``store.index``) lives in
memory: built from the file the first time a collection is searched, then brought up to date
before every search from two monotonic logs in the file (new face rows by rowid, deletions by
the ``face_deletions`` log), inside the same read transaction as the search, so a search sees
every change committed before it by any process, and nothing half-done. A search may opt in to
the approximate index (``store.approximate``, ``exact=False``), kept and followed the same way.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from faceledger import faults
from faceledger.engine.scoring import face_terms_for
from faceledger.engine.types import BoundingBox, Face, Pose, Quality
from faceledger.errors import FaceledgerError, ModelError
from faceledger.settings import private_file
from faceledger.sql import migrate
from faceledger.sql.ddl import DDL
from faceledger.sql.postgres import INTEGRITY_ERRORS
from faceledger.store.approximate import ApproximateIndex
from faceledger.store.base import (
    MAX_ASSOCIATE,
    AssociationResult,
    CollectionInfo,
    ConflictError,
    FaceHit,
    FaceRecord,
    FaceStore,
    ImageRecord,
    InvalidRequestError,
    NotFoundError,
    Page,
    PageTokens,
    UserRecord,
    check_limit,
)
from faceledger.store.index import DIM, ExactIndex
from faceledger.store.schema import create as create_schema
from faceledger.store.sqlite_crops import SQLiteCrops
from faceledger.store.sqlite_footage import SQLiteFootage
from faceledger.store.sqlite_idempotency import SQLiteIdempotency
from faceledger.store.sqlite_lifecycle import SQLiteLifecycle
from faceledger.store.sqlite_video import SQLiteVideoJobs
from faceledger.validation import check_id

LOAD_CHUNK = 65_536
MAX_PAGE_IDS = 4096
"""At most this many face ids in one ``list_faces(face_ids=...)`` filter."""


FACE_COLUMNS = (
    "f.seq, f.face_id, f.external_image_id, f.image_sha256, f.box_left, f.box_top, f.box_width,"
    " f.box_height, f.score, f.sharpness, f.brightness, f.face_size, f.yaw, f.pitch, f.roll,"
    " u.user_id, f.created_at, f.image_width, f.image_height, f.age_band"
)
FACE_FROM = "faces f LEFT JOIN users u ON u.pk = f.user_pk"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Live:
    """A collection's in-memory index and how far it has followed the file."""

    index: ExactIndex
    deletion_seq: int


@dataclass(frozen=True, slots=True)
class _Collection:
    pk: int
    collection_id: str
    tenant_id: str
    model_id: str
    created_at: str


class SQLiteStore(
    SQLiteLifecycle, SQLiteIdempotency, SQLiteCrops, SQLiteVideoJobs, SQLiteFootage, FaceStore
):
    """A :class:`FaceStore` in one SQLite file. Safe to share between threads of a process and
    to open from several processes at once (one writer at a time, readers never blocked)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 60_000,
        index_options: dict[str, object] | None = None,
        approximate_options: dict[str, object] | None = None,
    ) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            private_file(self.path)  # 0600 in a 0700 folder, before SQLite creates it
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1e3
        )
        self._init_state(index_options, approximate_options)
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(path) != ":memory:" and mode.lower() != "wal":
            raise FaceledgerError(f"cannot put {path} in WAL mode (got {mode})", code="store_error")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, EXTRA or NORMAL")
        c.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not just unlinked
        if str(path) == ":memory:":  # no file for Alembic to open: the baseline, directly
            with self._write():
                create_schema(DDL(c.execute, "sqlite"))
        else:
            migrate.upgrade("store", c, sqlite_path=self.path)
        self._load_secrets()

    def _init_state(
        self,
        index_options: dict[str, object] | None,
        approximate_options: dict[str, object] | None,
    ) -> None:
        self._lock = threading.RLock()
        self._tx_depth = 0
        self._outbox_staged = False
        self._indexes: dict[int, _Live] = {}
        self._index_options = index_options or {}
        self._approximate: dict[int, _Live] = {}  # opt-in only: built on the first such search
        self._approximate_options = approximate_options or {}

    def _load_secrets(self) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO store_secrets (name, value) VALUES ('page_tokens', ?)"
                " ON CONFLICT DO NOTHING",
                (secrets.token_bytes(32),),
            )
            (secret,) = c.execute(
                "SELECT value FROM store_secrets WHERE name = 'page_tokens'"
            ).fetchone()
        self._tokens = PageTokens(bytes(secret))

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); inside :meth:`transaction` it joins it."""
        with self._lock:
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield self._conn
                finally:
                    self._tx_depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._tx_depth = 1
            try:
                yield self._conn
                if self._outbox_staged:
                    faults.point("store.before_commit")
            except BaseException:
                self._tx_depth = 0
                self._outbox_staged = False
                self._conn.execute("ROLLBACK")
                raise
            self._tx_depth = 0
            self._conn.execute("COMMIT")
            if self._outbox_staged:
                self._outbox_staged = False
                faults.point("store.after_commit")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for a unit of work: every store write made inside, and the
        audit event staged with :meth:`stage_event`, commit together or not at all."""
        with self._write():
            yield

    # ------------------------------------------------------------------ audit outbox
    def stage_event(self, event_id: str, body: str) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO audit_outbox (event_id, body, staged_at) VALUES (?, ?, ?)",
                (event_id, body, now()),
            )
            self._outbox_staged = True

    def staged_events(self, limit: int = 1000) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT event_id, body FROM audit_outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def clear_events(self, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        with self._write() as c:
            c.executemany("DELETE FROM audit_outbox WHERE event_id = ?", [(e,) for e in event_ids])

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for everything read inside."""
        with self._lock:
            if self._tx_depth:  # inside a write transaction: read what it sees
                yield self._conn
                return
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._approximate.clear()
            self._conn.close()

    # ------------------------------------------------------------------ collections
    def _collection(self, tenant_id: str, collection_id: str) -> _Collection:
        row = self._conn.execute(
            "SELECT pk, collection_id, tenant_id, model_id, created_at FROM collections"
            " WHERE tenant_id = ? AND collection_id = ?",
            (tenant_id, collection_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"collection {collection_id!r} not found")
        return _Collection(*row)

    def _info(self, col: _Collection) -> CollectionInfo:
        """Counts from the collection's counters (kept in step with the rows by every write
        transaction; ``check_consistency`` compares them with the rows)."""
        c = self._conn
        faces, images = c.execute(
            "SELECT face_count, image_count FROM collections WHERE pk = ?", (col.pk,)
        ).fetchone()
        users = c.execute("SELECT count(*) FROM users WHERE collection_pk = ?", (col.pk,))
        return CollectionInfo(
            collection_id=col.collection_id,
            tenant_id=col.tenant_id,
            model_id=col.model_id,
            created_at=col.created_at,
            face_count=faces,
            user_count=users.fetchone()[0],
            image_count=images,
        )

    def create_collection(
        self, tenant_id: str, collection_id: str, model_id: str
    ) -> CollectionInfo:
        check_id(collection_id, "collection id")
        if not tenant_id or not model_id:
            raise InvalidRequestError("tenant id and model id must not be empty")
        with self._write() as c:
            try:
                c.execute(
                    "INSERT INTO collections (tenant_id, collection_id, model_id, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (tenant_id, collection_id, model_id, now()),
                )
            except INTEGRITY_ERRORS:
                raise ConflictError(f"collection {collection_id!r} already exists") from None
            return self._info(self._collection(tenant_id, collection_id))

    def describe_collection(self, tenant_id: str, collection_id: str) -> CollectionInfo:
        with self._read():
            return self._info(self._collection(tenant_id, collection_id))

    def list_collections(
        self, tenant_id: str, *, limit: int = 100, next_token: str | None = None
    ) -> Page[CollectionInfo]:
        check_limit(limit)
        listing = ("collections", tenant_id)
        after = self._tokens.decode(listing, next_token, str) or ""
        with self._read() as c:
            rows = c.execute(
                "SELECT pk, collection_id, tenant_id, model_id, created_at FROM collections"
                " WHERE tenant_id = ? AND collection_id > ? ORDER BY collection_id LIMIT ?",
                (tenant_id, after, limit + 1),
            ).fetchall()
            items = [self._info(_Collection(*r)) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, self._tokens.encode(listing, items[-1].collection_id) if more else None)

    def delete_collection(self, tenant_id: str, collection_id: str) -> CollectionInfo:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            info = self._info(col)
            c.execute("DELETE FROM faces WHERE collection_pk = ?", (col.pk,))
            c.execute("DELETE FROM face_deletions WHERE collection_pk = ?", (col.pk,))
            c.execute("DELETE FROM collections WHERE pk = ?", (col.pk,))
        self._indexes.pop(col.pk, None)
        self._approximate.pop(col.pk, None)
        return info

    # ------------------------------------------------------------------ faces
    def add_image_faces(
        self,
        tenant_id: str,
        collection_id: str,
        *,
        image_sha256: str,
        external_image_id: str | None,
        faces: Sequence[Face],
        image_size: tuple[int, int] | None = None,
        age_band: str | None = None,
    ) -> list[FaceRecord]:
        if not re.fullmatch(r"[0-9a-f]{64}", image_sha256 or ""):
            raise InvalidRequestError("image_sha256 must be 64 lowercase hex digits")
        rows = []
        width, height = (int(v) for v in image_size) if image_size else (None, None)
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            for face in faces:
                if face.embedding is None:
                    raise ModelError("a face to index must carry its embedding")
                if face.model_id != col.model_id:
                    raise ModelError(
                        f"collection {collection_id!r} holds embeddings of model "
                        f"{col.model_id!r}; this face's are of {face.model_id!r}"
                    )
                vec = np.asarray(face.embedding, dtype=np.float32).reshape(-1)
                if vec.shape != (DIM,) or not np.isfinite(vec).all():
                    raise ModelError(f"an embedding must be {DIM} finite numbers")
                created = now()
                b, q, p = face.box, face.quality, face.pose
                rows.append((str(uuid.uuid4()), b, face.score, q, p, created))
                c.execute(
                    "INSERT INTO faces (collection_pk, face_id, external_image_id, image_sha256,"
                    " box_left, box_top, box_width, box_height, score, sharpness, brightness,"
                    " face_size, yaw, pitch, roll, created_at, embedding, image_width,"
                    " image_height, age_band) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        col.pk, rows[-1][0], external_image_id, image_sha256,
                        int(b.left), int(b.top), int(b.width), int(b.height), float(face.score),
                        float(q.sharpness), float(q.brightness), int(q.face_size),
                        float(p.yaw), float(p.pitch), float(p.roll), created, vec.tobytes(),
                        width, height, age_band,
                    ),
                )  # fmt: skip
            new_image = c.execute(
                "INSERT INTO images (collection_pk, image_sha256, external_image_id, indexed_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (col.pk, image_sha256, external_image_id, now()),
            ).rowcount
            c.execute(
                "UPDATE collections SET face_count = face_count + ?,"
                " image_count = image_count + ? WHERE pk = ?",
                (len(rows), max(new_image, 0), col.pk),
            )
        return [
            FaceRecord(fid, collection_id, external_image_id, image_sha256, b, float(s), q, p,
                       None, created, width, height, age_band)
            for fid, b, s, q, p, created in rows
        ]  # fmt: skip

    def find_image(
        self, tenant_id: str, collection_id: str, image_sha256: str
    ) -> ImageRecord | None:
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            row = c.execute(
                "SELECT external_image_id, indexed_at FROM images"
                " WHERE collection_pk = ? AND image_sha256 = ?",
                (col.pk, image_sha256),
            ).fetchone()
            if row is None:
                return None
            ids = c.execute(
                "SELECT face_id FROM faces WHERE collection_pk = ? AND image_sha256 = ?"
                " ORDER BY seq",
                (col.pk, image_sha256),
            ).fetchall()
        return ImageRecord(image_sha256, row[0], tuple(r[0] for r in ids), row[1])

    def indexed_images(self, tenant_id: str, collection_id: str) -> dict[str, str | None]:
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            return dict(
                c.execute(
                    "SELECT image_sha256, external_image_id FROM images WHERE collection_pk = ?",
                    (col.pk,),
                ).fetchall()
            )

    def _record(self, row: tuple, collection_id: str) -> FaceRecord:
        (_, face_id, ext, sha, left, top, width, height, score, sharp, bright, size,
         yaw, pitch, roll, user_id, created, image_width, image_height, age_band) = row  # fmt: skip
        return FaceRecord(
            face_id=face_id,
            collection_id=collection_id,
            external_image_id=ext,
            image_sha256=sha,
            box=BoundingBox(left, top, width, height),
            score=score,
            quality=Quality(sharp, bright, size),
            pose=Pose(yaw, pitch, roll),
            user_id=user_id,
            created_at=created,
            image_width=image_width,
            image_height=image_height,
            age_band=age_band,
        )

    def list_faces(
        self,
        tenant_id: str,
        collection_id: str,
        *,
        limit: int = 100,
        next_token: str | None = None,
        user_id: str | None = None,
        face_ids: Sequence[str] | None = None,
    ) -> Page[FaceRecord]:
        check_limit(limit)
        listing = ("faces", tenant_id, collection_id)
        after = self._tokens.decode(listing, next_token, int) or 0
        where, args = "f.collection_pk = ? AND f.seq > ?", []
        if user_id is not None:
            where += " AND u.user_id = ?"
            args.append(user_id)
        if face_ids is not None:
            face_ids = list(face_ids)[:MAX_PAGE_IDS]
            where += f" AND f.face_id IN ({','.join('?' * len(face_ids))})"
            args.extend(face_ids)
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            if user_id is not None:
                self._user(col, user_id)
            rows = c.execute(
                f"SELECT {FACE_COLUMNS} FROM {FACE_FROM} WHERE {where} ORDER BY f.seq LIMIT ?",
                (col.pk, after, *args, limit + 1),
            ).fetchall()
        items = [self._record(r, collection_id) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, self._tokens.encode(listing, rows[limit - 1][0]) if more else None)

    def get_embeddings(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> dict[str, np.ndarray]:
        ids = list(face_ids)
        out: dict[str, np.ndarray] = {}
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                for face_id, blob in c.execute(
                    f"SELECT face_id, embedding FROM faces WHERE collection_pk = ?"
                    f" AND face_id IN ({','.join('?' * len(part))})",
                    (col.pk, *part),
                ):
                    out[face_id] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def delete_faces(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> list[str]:
        ids = list(dict.fromkeys(face_ids))
        deleted: list[str] = []
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                rows = c.execute(
                    f"SELECT seq, face_id, image_sha256 FROM faces WHERE collection_pk = ?"
                    f" AND face_id IN ({','.join('?' * len(part))})",
                    (col.pk, *part),
                ).fetchall()
                c.executemany("DELETE FROM faces WHERE seq = ?", [(r[0],) for r in rows])
                # an image none of whose faces remain is no longer "indexed": indexing it
                # again must index it, not skip it
                emptied = c.executemany(
                    "DELETE FROM images WHERE collection_pk = ? AND image_sha256 = ?"
                    " AND NOT EXISTS (SELECT 1 FROM faces WHERE collection_pk = ?"
                    " AND image_sha256 = ?)",
                    [(col.pk, h, col.pk, h) for h in {r[2] for r in rows}],
                ).rowcount
                c.execute(
                    "UPDATE collections SET image_count = image_count - ? WHERE pk = ?",
                    (max(emptied, 0), col.pk),
                )
                c.execute(
                    "UPDATE collections SET face_count = face_count - ? WHERE pk = ?",
                    (len(rows), col.pk),
                )
                c.executemany(
                    "INSERT INTO face_deletions (collection_pk, face_seq) VALUES (?, ?)",
                    [(col.pk, r[0]) for r in rows],
                )
                deleted.extend(r[1] for r in rows)
        order = {f: i for i, f in enumerate(ids)}
        return sorted(deleted, key=order.__getitem__)

    # ------------------------------------------------------------------ search
    def _fetch(self, seqs: np.ndarray) -> np.ndarray:
        out = np.empty((len(seqs), DIM), dtype=np.float32)
        where = {int(s): i for i, s in enumerate(seqs)}
        keys = list(where)
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            for seq, blob in self._conn.execute(
                f"SELECT seq, embedding FROM faces WHERE seq IN ({','.join('?' * len(part))})",
                part,
            ):
                out[where.pop(seq)] = np.frombuffer(blob, dtype=np.float32)
        if where:  # cannot happen inside one snapshot; refuse rather than rank garbage
            raise NotFoundError("faces vanished during a search; retry")
        return out

    def _live(self, col: _Collection, *, approximate: bool = False) -> _Live:
        """The collection's index, brought up to date (call inside a read transaction)."""
        c = self._conn
        indexes = self._approximate if approximate else self._indexes
        live = indexes.get(col.pk)
        if live is not None:
            self._load(col.pk, live.index, after=live.index.last_id)
            rows = c.execute(
                "SELECT seq, face_seq FROM face_deletions WHERE collection_pk = ? AND seq > ?",
                (col.pk, live.deletion_seq),
            ).fetchall()
            if rows:
                live.index.remove(np.array([r[1] for r in rows], dtype=np.int64))
                live.deletion_seq = max(r[0] for r in rows)
            if not live.index.needs_refit:
                return live
        # first use, or the index outgrew the grid it fitted on few faces: build from the file
        terms = face_terms_for(col.model_id)  # a normalised scoring's per-face terms, or None
        if approximate:
            index = ApproximateIndex(self._fetch, terms=terms, **self._approximate_options)  # type: ignore[arg-type]
        else:
            index = ExactIndex(self._fetch, terms=terms, **self._index_options)  # type: ignore[arg-type]
        deletion_seq = c.execute("SELECT coalesce(max(seq), 0) FROM face_deletions").fetchone()
        self._load(col.pk, index, after=-1)
        live = indexes[col.pk] = _Live(index, deletion_seq[0])
        return live

    def _load(self, collection_pk: int, index: ExactIndex, *, after: int) -> None:
        cur = self._stream(
            "SELECT seq, embedding FROM faces WHERE collection_pk = ? AND seq > ? ORDER BY seq",
            (collection_pk, after),
        )
        while rows := cur.fetchmany(LOAD_CHUNK):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add(ids, vecs.reshape(-1, DIM))

    def open_index(self, tenant_id: str, collection_id: str, *, exact: bool = True) -> ExactIndex:
        """Load (or update) the collection's search index now; returns it (for benchmarks)."""
        with self._read():
            col = self._collection(tenant_id, collection_id)
            return self._live(col, approximate=not exact).index

    def search(
        self,
        tenant_id: str,
        collection_id: str,
        embedding: np.ndarray,
        *,
        k: int,
        max_distance: float | None = None,
        model_id: str | None = None,
        exact: bool = True,
    ) -> list[FaceHit]:
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape != (DIM,) or not np.isfinite(vec).all():
            raise ModelError(f"a query embedding must be {DIM} finite numbers")
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            if model_id is not None and model_id != col.model_id:
                raise ModelError(
                    f"collection {collection_id!r} holds embeddings of model {col.model_id!r};"
                    f" the query's are of {model_id!r}"
                )
            hits = self._nearest(col, vec, k, max_distance, exact=exact)
            if not hits:
                return []
            seqs = [s for s, _ in hits]
            rows = c.execute(
                f"SELECT {FACE_COLUMNS} FROM {FACE_FROM}"
                f" WHERE f.seq IN ({','.join('?' * len(seqs))})",
                seqs,
            ).fetchall()
        by_seq = {r[0]: self._record(r, collection_id) for r in rows}
        return [FaceHit(by_seq[s], d, col.model_id) for s, d in hits]

    def _nearest(
        self, col: _Collection, vec: np.ndarray, k: int, max_distance: float | None, *, exact: bool
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest (seq, distance) in the collection (inside a read transaction)."""
        index = self._live(col, approximate=not exact).index
        return index.search(vec, k, max_distance=max_distance)

    # ------------------------------------------------------------------ users
    def _user(self, col: _Collection, user_id: str) -> int:
        row = self._conn.execute(
            "SELECT pk FROM users WHERE collection_pk = ? AND user_id = ?", (col.pk, user_id)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"user {user_id!r} not found in collection {col.collection_id!r}")
        return row[0]

    def _user_record(self, col: _Collection, user_pk: int) -> UserRecord:
        user_id, created = self._conn.execute(
            "SELECT user_id, created_at FROM users WHERE pk = ?", (user_pk,)
        ).fetchone()
        count = self._conn.execute(
            "SELECT count(*) FROM faces WHERE user_pk = ?", (user_pk,)
        ).fetchone()[0]
        return UserRecord(user_id, col.collection_id, count, created)

    def create_user(self, tenant_id: str, collection_id: str, user_id: str) -> UserRecord:
        check_id(user_id, "user id")
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            try:
                (pk,) = c.execute(
                    "INSERT INTO users (collection_pk, user_id, created_at) VALUES (?, ?, ?)"
                    " RETURNING pk",
                    (col.pk, user_id, now()),
                ).fetchone()
            except INTEGRITY_ERRORS:
                raise ConflictError(f"user {user_id!r} already exists") from None
            return self._user_record(col, pk)

    def delete_user(self, tenant_id: str, collection_id: str, user_id: str) -> UserRecord:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            pk = self._user(col, user_id)
            record = self._user_record(col, pk)
            c.execute("UPDATE faces SET user_pk = NULL WHERE user_pk = ?", (pk,))
            c.execute("DELETE FROM users WHERE pk = ?", (pk,))
        return record

    def list_users(
        self, tenant_id: str, collection_id: str, *, limit: int = 100, next_token: str | None = None
    ) -> Page[UserRecord]:
        check_limit(limit)
        listing = ("users", tenant_id, collection_id)
        after = self._tokens.decode(listing, next_token, str) or ""
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            rows = c.execute(
                "SELECT pk FROM users WHERE collection_pk = ? AND user_id > ?"
                " ORDER BY user_id LIMIT ?",
                (col.pk, after, limit + 1),
            ).fetchall()
            items = [self._user_record(col, r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, self._tokens.encode(listing, items[-1].user_id) if more else None)

    def _check_batch(self, face_ids: Sequence[str]) -> list[str]:
        ids = list(dict.fromkeys(face_ids))
        if not 1 <= len(ids) <= MAX_ASSOCIATE:
            raise InvalidRequestError(f"give between 1 and {MAX_ASSOCIATE} face ids")
        return ids

    def associate_faces(
        self, tenant_id: str, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult:
        return self._set_user(tenant_id, collection_id, user_id, face_ids, associate=True)

    def disassociate_faces(
        self, tenant_id: str, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult:
        return self._set_user(tenant_id, collection_id, user_id, face_ids, associate=False)

    def _set_user(
        self,
        tenant_id: str,
        collection_id: str,
        user_id: str,
        face_ids: Sequence[str],
        *,
        associate: bool,
    ) -> AssociationResult:
        """Attach faces to a user (or detach them) in one transaction, face by face."""
        ids = self._check_batch(face_ids)
        result = AssociationResult()
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            pk = self._user(col, user_id)
            for face_id in ids:
                row = c.execute(
                    "SELECT seq, user_pk FROM faces WHERE collection_pk = ? AND face_id = ?",
                    (col.pk, face_id),
                ).fetchone()
                if row is None:
                    result.unsuccessful.append((face_id, "FACE_NOT_FOUND"))
                elif associate and row[1] not in (None, pk):
                    result.unsuccessful.append((face_id, "ASSOCIATED_TO_A_DIFFERENT_USER"))
                elif associate and row[1] == pk:
                    continue  # already the user's: neither associated now nor refused
                elif not associate and row[1] != pk:
                    result.unsuccessful.append((face_id, "FACE_NOT_ASSOCIATED_TO_USER"))
                else:
                    c.execute(
                        "UPDATE faces SET user_pk = ? WHERE seq = ?",
                        (pk if associate else None, row[0]),
                    )
                    result.succeeded.append(face_id)
        return result

    def user_embeddings(
        self, tenant_id: str, collection_id: str
    ) -> dict[str, tuple[list[str], np.ndarray]]:
        grouped: dict[str, tuple[list[str], list[bytes]]] = {}
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            for user_id, face_id, blob in c.execute(
                "SELECT u.user_id, f.face_id, f.embedding FROM faces f JOIN users u"
                " ON u.pk = f.user_pk WHERE f.collection_pk = ? ORDER BY u.user_id, f.seq",
                (col.pk,),
            ):
                ids, blobs = grouped.setdefault(user_id, ([], []))
                ids.append(face_id)
                blobs.append(blob)
        return {
            u: (ids, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, DIM))
            for u, (ids, blobs) in grouped.items()
        }

    # ------------------------------------------------------------------ checks
    def iter_face_ids(self) -> Iterator[tuple[str, str, str]]:
        with self._read() as c:
            rows = c.execute(
                "SELECT c.tenant_id, c.collection_id, f.face_id FROM faces f"
                " JOIN collections c ON c.pk = f.collection_pk ORDER BY f.seq"
            ).fetchall()
        yield from ((r[0], r[1], r[2]) for r in rows)

    def check_consistency(self, tenant_id: str, collection_id: str) -> list[str]:
        """Problems found in the collection's rows (empty when consistent); for tests and ops."""
        problems = []
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            bad = c.execute(
                "SELECT count(*) FROM faces WHERE collection_pk = ?"
                " AND (embedding IS NULL OR length(embedding) != 512)",
                (col.pk,),
            ).fetchone()[0]
            if bad:
                problems.append(f"{bad} faces without a full embedding")
            orphans = c.execute(
                "SELECT count(*) FROM faces f LEFT JOIN images i ON i.collection_pk ="
                " f.collection_pk AND i.image_sha256 = f.image_sha256"
                " WHERE f.collection_pk = ? AND i.image_sha256 IS NULL",
                (col.pk,),
            ).fetchone()[0]
            if orphans:
                problems.append(f"{orphans} faces whose image is not recorded")
            count = c.execute(
                "SELECT count(*) FROM faces WHERE collection_pk = ?", (col.pk,)
            ).fetchone()[0]
            images = c.execute(
                "SELECT count(*) FROM images WHERE collection_pk = ?", (col.pk,)
            ).fetchone()[0]
            info = self._info(col)
            if (info.face_count, info.image_count) != (count, images):
                problems.append(
                    f"counters say {info.face_count} faces and {info.image_count} images;"
                    f" the rows are {count} and {images}"
                )
            if len(self._live(col).index) != count:
                problems.append("the search index disagrees with the face count")
            problems.extend(self._engine_check())
        return problems

    def _stream(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        """Rows read as they are consumed (a whole collection's embeddings)."""
        return self._conn.execute(sql, params)

    def _engine_check(self) -> list[str]:
        """What the database engine itself finds wrong with its file."""
        (check,) = self._conn.execute("PRAGMA quick_check").fetchone()
        return [] if check == "ok" else [f"sqlite quick_check: {check}"]
