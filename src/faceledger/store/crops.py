"""Face crops for human review: a small JPEG of each enrolled face, kept where its collection
says so, so that a reviewer confirms a lead from the faces and not from a face id.

A crop is part of its face: it is stored in the same file, in the same transaction, and goes
with the face (deletion, purge, withdrawal, case closure, erasure, collection deletion), its
row overwritten with zeros by ``secure_delete``. Crops never enter the audit log; reading one is
a governed operation whose record holds the face id and the crop's SHA-256.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

MAX_CROP_BYTES = 64 * 1024
"""A crop is a 150×150 JPEG, a few kilobytes; anything larger is refused by the store."""


class CropStore(ABC):
    """The crop part of a store (implemented by ``SQLiteStore``)."""

    @abstractmethod
    def set_keep_crops(self, tenant_id: str, collection_id: str, keep: bool) -> None:
        """Whether enrolment into this collection keeps a crop of each face."""

    @abstractmethod
    def keeps_crops(self, tenant_id: str, collection_id: str) -> bool:
        """The collection's setting (False when never set)."""

    @abstractmethod
    def put_face_crops(self, tenant_id: str, collection_id: str, crops: Mapping[str, bytes]) -> int:
        """Store the crops of faces of the collection (face id → JPEG); returns how many."""

    @abstractmethod
    def face_crop(self, tenant_id: str, face_id: str) -> tuple[str, bytes] | None:
        """(collection id, JPEG) of one of the tenant's faces, or None (no such face in this
        tenant, or no crop kept)."""
