"""The size of the image a face was found in is kept with the face (boxes as ratios need it)."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image
from store_helpers import embed_portraits

from faceledger.images import image_size
from faceledger.store import SQLiteStore

T = "tenant-a"


def test_image_size_follows_exif_orientation() -> None:
    img = Image.new("RGB", (40, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: a person sees it 20 wide, 40 high
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert image_size(buf.getvalue()) == (20, 40)
    assert image_size(np.zeros((7, 9, 3), np.uint8)) == (9, 7)


def test_size_is_stored_listed_and_older_stores_migrate(tmp_path: Path, engine, portraits):
    ext, digest, face = embed_portraits(engine, portraits[:1])[0]
    path = tmp_path / "store.sqlite3"
    with SQLiteStore(path) as store:
        store.create_collection(T, "c", face.model_id)
        (rec,) = store.add_image_faces(
            T, "c", image_sha256=digest, external_image_id=ext, faces=[face],
            image_size=(300, 400),
        )  # fmt: skip
        assert (rec.image_width, rec.image_height) == (300, 400)
        (listed,) = store.list_faces(T, "c").items
        assert (listed.image_width, listed.image_height) == (300, 400)
        (hit,) = store.search(T, "c", face.embedding, k=1)
        assert hit.face.image_width == 300
    # a schema-2 file, from before migrations were versioned with Alembic: the columns did not
    # exist, nor did the version table; opening brings it to the baseline, old faces have no size
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE faces DROP COLUMN image_width")
        conn.execute("ALTER TABLE faces DROP COLUMN image_height")
        conn.execute("DROP TABLE alembic_version_store")
        conn.execute("PRAGMA user_version = 2")
    with SQLiteStore(path) as store:
        (old,) = store.list_faces(T, "c").items
        assert (old.image_width, old.image_height) == (None, None)
