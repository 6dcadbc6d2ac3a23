"""Which store a data folder gets: the SQLite file in it, or PostgreSQL when
``FACELEDGER_DATABASE_URL`` names a database (the one setting that moves faceledger there)."""

from __future__ import annotations

import os
from typing import Any

from faceledger.sql.url import database_url
from faceledger.store.base import FaceStore
from faceledger.store.sqlite import SQLiteStore

FROM_ENVIRONMENT: Any = object()


def open_store(
    path: str | os.PathLike[str], *, url: str | None = FROM_ENVIRONMENT, **options: Any
) -> FaceStore:
    """The store of a data folder's ``path`` (SQLite), or of ``url`` (PostgreSQL)."""
    url = database_url() if url is FROM_ENVIRONMENT else url
    if url is None:
        return SQLiteStore(path, **options)
    from faceledger.store.postgres import PostgresStore

    return PostgresStore(url, path=path, **options)
