"""The face store's interface: collections, faces, users and exact 1:N search.

Callers (only ``faceledger.service``) depend on :class:`FaceStore`, never on a backend, so a
PostgreSQL + pgvector backend can implement it later. Every method takes the tenant id first;
a collection is identified by (tenant, collection id) and a store never returns another
tenant's rows: a collection of another tenant is "not found".

Contract every backend keeps:
- a face returned by ``add_image_faces`` is committed (durable) before the call returns;
- the faces of one image are committed together, with the image's record (its SHA-256 and
  external id), so a crash never leaves half an image and a rerun can skip what is done;
- ``search`` is exact (the brute-force top k by Euclidean distance, ties by insertion order)
  and sees every change committed before it started, by this or any other process.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from faceledger.engine.similarity import similarity_from_distance
from faceledger.engine.types import BoundingBox, Face, Pose, Quality
from faceledger.errors import (  # noqa: F401 - re-exported
    ConflictError,
    FaceledgerError,
    InvalidRequestError,
    NotFoundError,
)

T = TypeVar("T")

MAX_PAGE = 4096
MAX_ASSOCIATE = 100
"""Faces per associate/disassociate call (as in Rekognition's AssociateFaces)."""


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    collection_id: str
    tenant_id: str
    model_id: str
    created_at: str
    face_count: int
    user_count: int
    image_count: int
    keep_crops: bool | None = None
    """Whether enrolment keeps a crop of each face (set by ``describe_collection``)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "collection_id": self.collection_id,
            "tenant_id": self.tenant_id,
            "model_id": self.model_id,
            "created_at": self.created_at,
            "face_count": self.face_count,
            "user_count": self.user_count,
            "image_count": self.image_count,
        }


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """A stored face (without its embedding)."""

    face_id: str
    collection_id: str
    external_image_id: str | None
    image_sha256: str
    box: BoundingBox
    score: float
    quality: Quality
    pose: Pose
    user_id: str | None
    created_at: str
    image_width: int | None = None
    image_height: int | None = None
    """Size of the upright image the face was found in (None for faces stored before it was
    kept): what makes a box expressible as ratios of the image (Rekognition's BoundingBox)."""
    age_band: str | None = None
    """The age band the operator declared at enrolment (``governance.error_rates.AGE_BANDS``;
    never inferred from the image), or None."""

    def to_dict(self) -> dict[str, object]:
        return {
            "face_id": self.face_id,
            "external_image_id": self.external_image_id,
            "image_sha256": self.image_sha256,
            "box": self.box.to_dict(),
            "score": round(float(self.score), 4),
            "quality": self.quality.to_dict(),
            "pose": self.pose.to_dict(),
            "user_id": self.user_id,
            "created_at": self.created_at,
            "age_band": self.age_band,
        }


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image whose faces were indexed (possibly none): what makes reruns resumable."""

    image_sha256: str
    external_image_id: str | None
    face_ids: tuple[str, ...]
    indexed_at: str


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    collection_id: str
    face_count: int
    created_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "face_count": self.face_count,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class FaceHit:
    face: FaceRecord
    distance: float
    model_id: str
    """The collection's model: similarity uses that model's calibration."""

    @property
    def similarity(self) -> float:
        return float(similarity_from_distance(self.distance, self.model_id))

    def to_dict(self) -> dict[str, object]:
        return {
            "face": self.face.to_dict(),
            "similarity": round(self.similarity, 2),
            "distance": round(self.distance, 4),
        }


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a listing in a stable order; pass ``next_token`` to get the next."""

    items: list[T]
    next_token: str | None = None


@dataclass(slots=True)
class AssociationResult:
    """Outcome of associate/disassociate: ids changed and ids refused with a reason."""

    succeeded: list[str] = field(default_factory=list)
    unsuccessful: list[tuple[str, str]] = field(default_factory=list)
    similarities: dict[str, float] = field(default_factory=dict)
    """Face id → similarity to the user, for faces refused as ``LOW_MATCH_CONFIDENCE``."""

    def to_dict(self, verb: str) -> dict[str, object]:
        """``verb`` is "associated" or "disassociated": ``associated_faces`` and
        ``unsuccessful_face_associations`` (Rekognition's ``UnsuccessfulFaceAssociations``)."""
        noun = verb.removesuffix("ed") + "ions"  # associated -> associations
        return {
            f"{verb}_faces": self.succeeded,
            f"unsuccessful_face_{noun}": [
                {"face_id": f, "reason": r} for f, r in self.unsuccessful
            ],
        }


MAX_TOKEN = 1024
"""Longest page token accepted (characters); ids are at most 255 characters."""
_NONCE = 12
_TAG = 16


class PageTokens:
    """Opaque page tokens, bound to the listing that issued them.

    A token carries the listing's position (the last id, or the face's insertion number, a
    counter shared by every tenant of the store). It is encrypted and authenticated with a
    secret of the store (random, kept in the store itself, never leaves it): the position is
    XORed with an HMAC-SHA256 key stream of a random nonce (a PRF in counter mode) and the
    token carries an HMAC-SHA256 tag (encrypt-then-MAC, separate keys derived from the
    secret) over the nonce, the ciphertext and the *binding*: the kind of listing, the tenant
    and the collection. So a token shows nothing of the store's activity, cannot be forged or
    altered, and is refused (:class:`InvalidRequestError`) by another tenant, collection or
    kind of listing. Tokens stay valid as long as the store file does.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the page-token secret must have at least 32 bytes")
        self._enc = hmac.digest(secret, b"faceledger page token: encryption", "sha256")
        self._mac = hmac.digest(secret, b"faceledger page token: authentication", "sha256")

    def encode(self, binding: Sequence[str], value: str | int) -> str:
        plain = (b"i" if isinstance(value, int) else b"s") + str(value).encode()
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + _xor(plain, self._stream(nonce, len(plain)))
        raw = sealed + self._tag(binding, sealed)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, binding: Sequence[str], token: str | None, kind: type) -> str | int | None:
        """The position of a token this listing issued; anything else is an
        :class:`InvalidRequestError` (422 over HTTP), never a crash."""
        if token is None:
            return None
        refused = InvalidRequestError(
            "invalid page token: pass the next_token of the previous page of this same listing"
        )
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN:
            raise refused
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise refused from None
        if len(raw) < _NONCE + 1 + _TAG:
            raise refused
        sealed, tag = raw[:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._tag(binding, sealed)):
            raise refused
        nonce, body = sealed[:_NONCE], sealed[_NONCE:]
        plain = _xor(body, self._stream(nonce, len(body)))
        try:
            text = plain[1:].decode()
            if kind is int and plain[:1] == b"i" and text.isdigit() and len(text) <= 18:
                return int(text)
            if kind is str and plain[:1] == b"s":
                return text
        except UnicodeDecodeError:
            pass
        raise refused

    def _stream(self, nonce: bytes, n: int) -> bytes:
        blocks = (n + 31) // 32
        return b"".join(
            hmac.digest(self._enc, nonce + i.to_bytes(4, "big"), "sha256") for i in range(blocks)
        )[:n]

    def _tag(self, binding: Sequence[str], sealed: bytes) -> bytes:
        context = b"".join(len(b).to_bytes(4, "big") + b for b in (p.encode() for p in binding))
        return hmac.digest(self._mac, context + sealed, "sha256")[:_TAG]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequestError(f"page size must be between 1 and {MAX_PAGE}")
    return limit


class FaceStore(ABC):
    """Durable collections of faces with exact search. See the module docstring."""

    # ------------------------------------------------------------------ collections
    @abstractmethod
    def create_collection(
        self, tenant_id: str, collection_id: str, model_id: str
    ) -> CollectionInfo:
        """Create an empty collection for embeddings of ``model_id``; ConflictError if it exists."""

    @abstractmethod
    def describe_collection(self, tenant_id: str, collection_id: str) -> CollectionInfo: ...

    @abstractmethod
    def list_collections(
        self, tenant_id: str, *, limit: int = 100, next_token: str | None = None
    ) -> Page[CollectionInfo]:
        """The tenant's collections ordered by id."""

    @abstractmethod
    def delete_collection(self, tenant_id: str, collection_id: str) -> CollectionInfo:
        """Delete the collection with its faces and users; returns what it held."""

    # ------------------------------------------------------------------ faces
    @abstractmethod
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
        """Store the faces of one image (each with embedding and model id) in one commit.
        ``image_size``: width and height of the upright image, kept with each face.
        ``age_band``: the age band the operator declared for them, kept with each face.

        ModelError if a face's model id differs from the collection's. The image is recorded
        even with no faces, so a resumed run skips it.
        """

    @abstractmethod
    def find_image(
        self, tenant_id: str, collection_id: str, image_sha256: str
    ) -> ImageRecord | None:
        """The record of an already indexed image, by SHA-256."""

    @abstractmethod
    def indexed_images(self, tenant_id: str, collection_id: str) -> dict[str, str | None]:
        """SHA-256 → external image id of every image indexed in the collection."""

    @abstractmethod
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
        """Faces in insertion order (stable across pages while faces are added or deleted)."""

    @abstractmethod
    def get_embeddings(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Embeddings of the faces that exist, by face id."""

    @abstractmethod
    def delete_faces(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> list[str]:
        """Delete faces; returns the ids that existed and were deleted."""

    @abstractmethod
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
        """Exact top ``k`` faces nearest to ``embedding`` within ``max_distance``.

        ``exact=False`` (opt-in, never the default) uses the approximate index: every returned
        distance is still exact, but a true neighbour may be missed (recall measured in
        ``docs/store.md``)."""

    # ------------------------------------------------------------------ users
    @abstractmethod
    def create_user(self, tenant_id: str, collection_id: str, user_id: str) -> UserRecord: ...

    @abstractmethod
    def delete_user(self, tenant_id: str, collection_id: str, user_id: str) -> UserRecord:
        """Delete the user; its faces stay in the collection, no longer associated."""

    @abstractmethod
    def list_users(
        self, tenant_id: str, collection_id: str, *, limit: int = 100, next_token: str | None = None
    ) -> Page[UserRecord]: ...

    @abstractmethod
    def associate_faces(
        self, tenant_id: str, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult:
        """Associate 1–100 faces to the user; a face belongs to at most one user. A face the
        user has already is left out of the result (neither succeeded nor unsuccessful)."""

    @abstractmethod
    def disassociate_faces(
        self, tenant_id: str, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult: ...

    @abstractmethod
    def user_embeddings(
        self, tenant_id: str, collection_id: str
    ) -> dict[str, tuple[list[str], np.ndarray]]:
        """Every user with associated faces: user id → (face ids, (n, 128) embeddings)."""

    # ------------------------------------------------------------------ lifecycle
    # the unit of work: a change and its audit event commit together --------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction that the store's write methods called inside join."""

    @abstractmethod
    def stage_event(self, event_id: str, body: str) -> None:
        """Write an audit event (canonical JSON) to the outbox, in the current transaction."""

    @abstractmethod
    def staged_events(self, limit: int = 1000) -> list[tuple[str, str]]:
        """Outbox entries not yet cleared, oldest first: ``(event_id, body)``."""

    @abstractmethod
    def clear_events(self, event_ids: Sequence[str]) -> None:
        """Remove outbox entries once the audit log holds them."""

    @abstractmethod
    def iter_face_ids(self) -> Iterator[tuple[str, str, str]]:
        """Every stored face as ``(tenant_id, collection_id, face_id)`` (for verification)."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections and memory."""

    def __enter__(self) -> FaceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
