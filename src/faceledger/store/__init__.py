"""Durable collections of faces with exact 1:N search (approximate only by opt-in).

``FaceStore`` (base.py) is the interface; ``SQLiteStore`` (sqlite.py) the embedded default;
``PostgresStore`` (postgres.py) the same on PostgreSQL; ``open_store`` (factory.py) picks one;
``ExactIndex`` (index.py) the in-memory exact search a store keeps per collection;
``ApproximateIndex`` (approximate.py) the opt-in IVF, ``search(..., exact=False)``.
Only ``faceledger.service`` should call a store: it applies policy and audit first.
"""

from faceledger.store.base import (
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
    UserRecord,
)
from faceledger.store.factory import open_store
from faceledger.store.sqlite import SQLiteStore

__all__ = [
    "AssociationResult",
    "CollectionInfo",
    "ConflictError",
    "FaceHit",
    "FaceRecord",
    "FaceStore",
    "ImageRecord",
    "InvalidRequestError",
    "NotFoundError",
    "Page",
    "SQLiteStore",
    "UserRecord",
    "open_store",
]
