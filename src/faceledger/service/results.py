"""What the face service returns: index results, searches and their matches, user matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faceledger.engine.types import Comparison, Face
from faceledger.store.base import FaceHit, FaceRecord


@dataclass(slots=True)
class UnindexedFace:
    face: Face
    reasons: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"face": self.face.to_dict(embedding=False), "reasons": self.reasons}


@dataclass(slots=True)
class IndexResult:
    """What indexing one image did. ``skipped``: the image was indexed before (resume)."""

    image_sha256: str
    external_image_id: str | None
    face_records: list[FaceRecord] = field(default_factory=list)
    unindexed_faces: list[UnindexedFace] = field(default_factory=list)
    skipped: bool = False
    skipped_face_ids: list[str] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    """The detected faces of ``face_records``, in the same order (landmarks are not stored);
    not in ``to_dict``."""

    def to_dict(self) -> dict[str, object]:
        return {
            "image_sha256": self.image_sha256,
            "external_image_id": self.external_image_id,
            "skipped": self.skipped,
            "face_records": [r.to_dict() for r in self.face_records],
            "unindexed_faces": [u.to_dict() for u in self.unindexed_faces],
            **({"existing_face_ids": self.skipped_face_ids} if self.skipped else {}),
        }


@dataclass(slots=True)
class FaceSearch:
    """Matches of one searched face (from an image, or a stored face)."""

    searched_face: Face | FaceRecord | None
    matches: list[FaceHit]

    def to_dict(self) -> dict[str, object]:
        f = self.searched_face
        return {
            "searched_face": None
            if f is None
            else f.to_dict(embedding=False)
            if isinstance(f, Face)
            else f.to_dict(),
            "matches": [m.to_dict() for m in self.matches],
        }


@dataclass(slots=True)
class SearchResult:
    collection_id: str
    model_id: str
    threshold: float
    max_results: int
    searches: list[FaceSearch]
    image_sha256: str | None = None
    search_mode: str = "exact"
    """"exact", or "approximate" when the caller opted in (distances exact, recall measured)."""
    unsearched_faces: list[UnindexedFace] = field(default_factory=list)
    """Faces of the image not searched, with why (quality filter, not the largest); not in
    ``to_dict`` (the /v1 answer), read by the Rekognition front end."""
    probe_crops: list[bytes] = field(default_factory=list)
    """Crops of the searched faces, kept with a lead for its reviewers (never returned)."""
    gallery_size: int | None = None
    """Faces in the collection when it was searched (one comparison each)."""
    error_rates: dict[str, Any] | None = None
    """Expected false candidates at ``threshold`` (``governance.error_rates.at_threshold``)."""

    @property
    def matches(self) -> list[FaceHit]:
        """Matches of the first (largest) searched face."""
        return self.searches[0].matches if self.searches else []

    def to_dict(self) -> dict[str, object]:
        return {
            "collection_id": self.collection_id,
            "model_id": self.model_id,
            "threshold": self.threshold,
            "max_results": self.max_results,
            "image_sha256": self.image_sha256,
            "search_mode": self.search_mode,
            "error_rates": self.error_rates,
            "searches": [s.to_dict() for s in self.searches],
        }


@dataclass(frozen=True, slots=True)
class UserMatch:
    user_id: str
    similarity: float
    distance: float
    face_count: int

    def to_dict(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "similarity": round(self.similarity, 2),
            "distance": round(self.distance, 4),
            "face_count": self.face_count,
        }


@dataclass(slots=True)
class UserSearchResult:
    collection_id: str
    threshold: float
    aggregation: str
    searched_face: Face | FaceRecord | None
    matches: list[UserMatch]
    image_sha256: str | None = None
    unsearched_faces: list[UnindexedFace] = field(default_factory=list)
    searched_user: str | None = None
    """The user searched with (a search by user); its own match is left out."""
    error_rates: dict[str, Any] | None = None
    """Expected false candidates at ``threshold`` (``governance.error_rates.at_threshold``)."""

    def to_dict(self) -> dict[str, object]:
        f = self.searched_face
        return {
            "collection_id": self.collection_id,
            "threshold": self.threshold,
            "aggregation": self.aggregation,
            "image_sha256": self.image_sha256,
            "error_rates": self.error_rates,
            "searched_face": None
            if f is None
            else f.to_dict(embedding=False)
            if isinstance(f, Face)
            else f.to_dict(),
            "user_matches": [m.to_dict() for m in self.matches],
        }


def search_rows(result: SearchResult) -> list[dict[str, Any]]:
    """The rows a review lead holds for a face search: who matched, how closely."""
    return [
        {
            "searched_face": i,
            "face_id": m.face.face_id,
            "external_image_id": m.face.external_image_id,
            "user_id": m.face.user_id,
            "similarity": round(m.similarity, 4),
        }
        for i, search in enumerate(result.searches)
        for m in search.matches
    ]


def user_rows(result: UserSearchResult) -> list[dict[str, Any]]:
    return [
        {"user_id": m.user_id, "similarity": round(m.similarity, 4), "face_count": m.face_count}
        for m in result.matches
    ]


def compare_rows(result: Comparison) -> list[dict[str, Any]]:
    return [
        {"target_face": i, "similarity": round(m.similarity, 4), "match": m.match}
        for i, m in enumerate(result.matches)
    ]
