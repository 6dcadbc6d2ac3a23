"""The crop tables of the SQLite store, as a mixin of ``SQLiteStore`` (see ``store.crops``).

``face_crops`` rows reference their face with ``ON DELETE CASCADE`` (the store enables foreign
keys), so every way a face leaves the store takes its crop with it, in the same transaction.
Added by :func:`migrate` (additive: two new tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from faceledger.store.base import InvalidRequestError
from faceledger.store.crops import MAX_CROP_BYTES, CropStore

if TYPE_CHECKING:
    from faceledger.sql.ddl import DDL
    from faceledger.store.sqlite import SQLiteStore

CROP_SCHEMA = """
CREATE TABLE IF NOT EXISTS crop_settings (
    collection_pk INTEGER PRIMARY KEY REFERENCES collections(pk) ON DELETE CASCADE,
    keep          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS face_crops (
    face_seq INTEGER PRIMARY KEY REFERENCES faces(seq) ON DELETE CASCADE,
    jpeg     BLOB NOT NULL
)
"""


def migrate(ddl: DDL) -> None:
    """Create what is missing (in the baseline migration); idempotent."""
    ddl.run(CROP_SCHEMA)


class SQLiteCrops(CropStore):
    """Mixed into ``SQLiteStore``: uses its connection, lock and transactions."""

    def set_keep_crops(self: SQLiteStore, tenant_id: str, collection_id: str, keep: bool) -> None:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            c.execute(
                "INSERT INTO crop_settings (collection_pk, keep) VALUES (?, ?)"
                " ON CONFLICT (collection_pk) DO UPDATE SET keep = excluded.keep",
                (col.pk, int(bool(keep))),
            )

    def keeps_crops(self: SQLiteStore, tenant_id: str, collection_id: str) -> bool:
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            row = c.execute(
                "SELECT keep FROM crop_settings WHERE collection_pk = ?", (col.pk,)
            ).fetchone()
        return bool(row and row[0])

    def put_face_crops(
        self: SQLiteStore, tenant_id: str, collection_id: str, crops: Mapping[str, bytes]
    ) -> int:
        for jpeg in crops.values():
            if not isinstance(jpeg, bytes) or not 0 < len(jpeg) <= MAX_CROP_BYTES:
                raise InvalidRequestError(f"a face crop is 1 to {MAX_CROP_BYTES} bytes")
        done = 0
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            for face_id, jpeg in crops.items():
                done += c.execute(
                    "INSERT INTO face_crops (face_seq, jpeg)"
                    " SELECT seq, ? FROM faces WHERE collection_pk = ? AND face_id = ?"
                    " ON CONFLICT (face_seq) DO UPDATE SET jpeg = excluded.jpeg",
                    (jpeg, col.pk, face_id),
                ).rowcount
        return done

    def face_crop(self: SQLiteStore, tenant_id: str, face_id: str) -> tuple[str, bytes] | None:
        with self._read() as c:
            row = c.execute(
                "SELECT c.collection_id, k.jpeg FROM faces f"
                " JOIN collections c ON c.pk = f.collection_pk"
                " JOIN face_crops k ON k.face_seq = f.seq"
                " WHERE f.face_id = ? AND c.tenant_id = ?",
                (face_id, tenant_id),
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None
