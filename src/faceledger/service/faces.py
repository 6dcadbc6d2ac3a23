"""FaceService: collections, faces, users and 1:N search, each call decided and recorded by a Gate.

This is the only code that touches a face store. Every public method takes the
:class:`RequestContext` first, asks ``gate.decide`` before the store is touched (a denial raises
:class:`PolicyDenied`), and calls ``gate.record`` exactly once per request, allowed or denied,
succeeded or failed, with the request (collection, SHA-256 of input images, parameters) and the
outcome (face ids, result ids with similarities, or the error code). Every store call is scoped
by ``ctx.tenant_id``. A decision's ``min_similarity`` raises the caller's threshold and its
``max_results`` caps the number of results.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from faceledger.engine.batch import process_images
from faceledger.engine.core import Engine
from faceledger.engine.similarity import (
    DEFAULT_SEARCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    distance_from_similarity,
    similarity_from_distance,
)
from faceledger.engine.types import Comparison, Face
from faceledger.errors import FaceledgerError, ImageError, ModelError
from faceledger.images import ImageInput
from faceledger.service.context import RequestContext
from faceledger.service.gate import Decision, Gate
from faceledger.store.base import (
    MAX_PAGE,
    AssociationResult,
    CollectionInfo,
    FaceHit,
    FaceRecord,
    FaceStore,
    ImageRecord,
    InvalidRequestError,
    NotFoundError,
    Page,
    UserRecord,
)

R = TypeVar("R")

MAX_RESULTS = 4096
DEFAULT_MAX_RESULTS = 10
DEFAULT_MAX_FACES = 100


class PolicyDenied(FaceledgerError):
    """The gate refused the request; ``decision`` says which rule and why."""

    code = "policy_denied"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"denied by policy ({decision.rule}): {decision.reason}")
        self.decision = decision


class ResultsWithheld(FaceledgerError):
    """The policy requires human review: the results were held as a pending lead.

    Raised instead of returning results, so a front end that forgets review cannot leak them:
    the requester gets ``lead`` (its id and status), reviewers confirm or reject it, and the
    requester reads the results once two reviewers have confirmed.
    """

    code = "review_pending"

    def __init__(self, lead: Any, decision: Decision) -> None:
        super().__init__(
            f"results held for human review as lead {lead.id} ({decision.rule}): "
            "two reviewers of your organization must confirm before you see them"
        )
        self.lead = lead
        self.decision = decision


class QualityFilter(StrEnum):
    """How demanding indexing is about a face before storing it (see QUALITY_BARS)."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True, slots=True)
class QualityBar:
    min_face_size: int
    """Shorter side of the face box, pixels (SMALL_BOUNDING_BOX below it)."""
    min_sharpness: float
    """Quality.sharpness 0-100 of the aligned chip (LOW_SHARPNESS below it)."""
    min_brightness: float
    """Quality.brightness 0-100 (LOW_BRIGHTNESS below it)."""
    max_yaw: float
    max_pitch: float
    """Estimated |yaw| and |pitch| in degrees (EXTREME_POSE above either)."""


QUALITY_BARS: dict[QualityFilter, QualityBar | None] = {
    QualityFilter.NONE: None,
    # LOW refuses only faces recognition cannot use (heavy blur, tiny, dark, profile).
    QualityFilter.LOW: QualityBar(30, 10.0, 10.0, 60.0, 45.0),
    QualityFilter.MEDIUM: QualityBar(50, 30.0, 20.0, 45.0, 30.0),
    QualityFilter.HIGH: QualityBar(80, 60.0, 30.0, 30.0, 20.0),
}
"""Quality filter levels, on the engine's measured scales (engine/quality.py, engine/pose.py).
Sharpness: LFW news photos have a median of 87-91 (1st percentile ~47), the Congress portraits
77-100, LFW after a 1.5 px Gaussian blur ~25 and after 3 px ~8: LOW drops the 3 px blur, MEDIUM
the 1.5 px blur. Face size on LFW: 90-155 px (median 108)."""


def quality_reasons(face: Face, level: QualityFilter | str) -> list[str]:
    """Why ``face`` is below the bar of ``level`` (empty when it passes), Rekognition's names."""
    bar = QUALITY_BARS[QualityFilter(level)]
    if bar is None:
        return []
    reasons = []
    if face.quality.face_size < bar.min_face_size:
        reasons.append("SMALL_BOUNDING_BOX")
    if face.quality.sharpness < bar.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if face.quality.brightness < bar.min_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if abs(face.pose.yaw) > bar.max_yaw or abs(face.pose.pitch) > bar.max_pitch:
        reasons.append("EXTREME_POSE")
    return reasons


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

    def to_dict(self) -> dict[str, object]:
        f = self.searched_face
        return {
            "collection_id": self.collection_id,
            "threshold": self.threshold,
            "aggregation": self.aggregation,
            "image_sha256": self.image_sha256,
            "searched_face": None
            if f is None
            else f.to_dict(embedding=False)
            if isinstance(f, Face)
            else f.to_dict(),
            "user_matches": [m.to_dict() for m in self.matches],
        }


USER_AGGREGATIONS = ("max", "centroid", "top2-mean")
DEFAULT_USER_AGGREGATION = "centroid"
"""How a user's faces are scored against a probe: the distance to the mean of the user's
embeddings. Measured on LFW by ``python benchmarks/search.py --users`` (default model tta6;
identities with >= 3 images, all but one enrolled as a user, the last as probe, 2,034
distractor users; see docs/store.md): rank-1 0.988 (centroid) vs 0.975 (nearest face) vs 0.970
(mean of top 2) vs 0.906 for a single enrolled face; at the threshold giving 1% false positives
on never-enrolled probes, 0.854 vs 0.764 vs 0.695 vs 0.524 found. Centroid distances run
smaller than face distances, so at one fixed threshold a centroid also returns more false
positives (FPIR at 90: 0.84 vs 0.80): compare aggregations at equal FPIR, as above."""


def user_distance(query: np.ndarray, embeddings: np.ndarray, aggregation: str) -> float:
    """Distance of ``query`` to a user enrolled with ``embeddings`` under an aggregation."""
    q = np.asarray(query, dtype=np.float64)
    e = np.asarray(embeddings, dtype=np.float64)
    if aggregation == "centroid":
        return float(np.linalg.norm(e.mean(axis=0) - q))
    d = np.sort(np.linalg.norm(e - q, axis=1))
    if aggregation == "max":
        return float(d[0])
    if aggregation == "top2-mean":
        return float(d[:2].mean())
    raise InvalidRequestError(f"unknown user aggregation {aggregation!r}: {USER_AGGREGATIONS}")


def image_digest(image: ImageInput) -> tuple[ImageInput, str]:
    """The input as bytes (paths read once) and its SHA-256 (of the pixels for arrays)."""
    if isinstance(image, np.ndarray):
        h = hashlib.sha256(str(image.shape).encode() + np.ascontiguousarray(image).tobytes())
        return image, h.hexdigest()
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"no such file: {path}", code="file_not_found")
        try:
            image = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}", code="unreadable") from exc
    elif hasattr(image, "read"):
        image = image.read()  # type: ignore[union-attr]
    data = bytes(image)  # type: ignore[arg-type]
    return data, hashlib.sha256(data).hexdigest()


def _embed_file(engine: Engine, path: str) -> tuple[str, list[Face]]:
    """Worker task for bulk indexing: SHA-256 of the file and its faces with embeddings."""
    data, digest = image_digest(path)
    return digest, engine.represent(data)


def run_governed(
    gate: Gate,
    ctx: RequestContext,
    operation: str,
    request: dict[str, Any],
    work: Callable[[Decision], tuple[R, dict[str, Any]]],
    *,
    decision: Decision | None = None,
    lead_results: Callable[[R], list[dict[str, Any]]] | None = None,
) -> R:
    """decide → work → record once, whatever happens.

    When the decision requires review, the results never leave: ``lead_results`` turns
    them into the lead's rows, the gate holds them (``withhold``) and
    :class:`ResultsWithheld` is raised with the lead. A gate that cannot withhold fails
    closed: the request is denied before the store is touched.
    """
    if decision is None:
        decision = gate.decide(ctx, operation, request)
    withhold = getattr(gate, "withhold", None)
    if decision.allowed and decision.review_required and withhold is None:
        decision = Decision(
            False, decision.rule, "Review is required but this gate cannot hold results."
        )
    if not decision.allowed:
        gate.record(ctx, operation, decision, request=request, outcome={"status": "denied"})
        raise PolicyDenied(decision)
    try:
        result, outcome = work(decision)
    except FaceledgerError as exc:
        outcome = {"status": "error", "error": exc.code, "message": str(exc)}
        gate.record(ctx, operation, decision, request=request, outcome=outcome)
        raise
    except BaseException as exc:
        outcome = {"status": "error", "error": "internal", "message": type(exc).__name__}
        gate.record(ctx, operation, decision, request=request, outcome=outcome)
        raise
    if decision.allowed and decision.review_required:
        rows = lead_results(result) if lead_results is not None else []
        try:
            lead = withhold(ctx, operation, decision, rows)  # type: ignore[misc]
        except BaseException as exc:
            outcome = {"status": "error", "error": "internal", "message": type(exc).__name__}
            gate.record(ctx, operation, decision, request=request, outcome=outcome)
            raise
        outcome = {**outcome, "status": "withheld", "lead_id": lead.id}
        gate.record(ctx, operation, decision, request=request, outcome=outcome)
        raise ResultsWithheld(lead, decision)
    gate.record(ctx, operation, decision, request=request, outcome={"status": "ok", **outcome})
    return result


class FaceService:
    """The one door to the face store. See the module docstring for the contract."""

    def __init__(self, store: FaceStore, engine: Engine, gate: Gate) -> None:
        self.store = store
        self.engine = engine
        self.gate = gate

    # ------------------------------------------------------------------ plumbing
    def _run(
        self,
        ctx: RequestContext,
        operation: str,
        request: dict[str, Any],
        work: Callable[[Decision], tuple[R, dict[str, Any]]],
        *,
        decision: Decision | None = None,
        lead_results: Callable[[R], list[dict[str, Any]]] | None = None,
    ) -> R:
        return run_governed(
            self.gate, ctx, operation, request, work,
            decision=decision, lead_results=lead_results,
        )  # fmt: skip

    @staticmethod
    def _limits(
        decision: Decision, threshold: float, max_results: int, model_id: str
    ) -> tuple[float, float | None, int]:
        """Threshold raised to the decision's floor, results capped; the threshold becomes a
        distance with the calibration of ``model_id`` (the collection's model)."""
        if not 0.0 <= threshold < 100.0:
            raise InvalidRequestError("threshold must be a similarity in [0, 100)")
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidRequestError(f"max_results must be between 1 and {MAX_RESULTS}")
        if decision.min_similarity is not None:
            threshold = max(threshold, float(decision.min_similarity))
        if decision.max_results is not None:
            max_results = max(0, min(max_results, int(decision.max_results)))
        max_distance = distance_from_similarity(threshold, model_id) if threshold > 0 else None
        return threshold, max_distance, max_results

    @staticmethod
    def _hits(hits: Sequence[FaceHit]) -> list[dict[str, object]]:
        return [{"face_id": h.face.face_id, "similarity": round(h.similarity, 4)} for h in hits]

    # ------------------------------------------------------------------ collections
    def create_collection(self, ctx: RequestContext, collection_id: str) -> CollectionInfo:
        """A new collection for this engine's model id."""
        request = {"collection_id": collection_id, "model_id": self.engine.model_id}

        def work(_: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.create_collection(ctx.tenant_id, collection_id, self.engine.model_id)
            return info, {"collection_id": collection_id}

        return self._run(ctx, "collection.create", request, work)

    def describe_collection(self, ctx: RequestContext, collection_id: str) -> CollectionInfo:
        def work(_: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            return info, {"face_count": info.face_count, "user_count": info.user_count}

        return self._run(ctx, "collection.describe", {"collection_id": collection_id}, work)

    def list_collections(
        self, ctx: RequestContext, *, limit: int = 100, next_token: str | None = None
    ) -> Page[CollectionInfo]:
        def work(_: Decision) -> tuple[Page[CollectionInfo], dict[str, Any]]:
            page = self.store.list_collections(ctx.tenant_id, limit=limit, next_token=next_token)
            return page, {"collection_ids": [c.collection_id for c in page.items]}

        request = {"limit": limit, "next_token": next_token}
        return self._run(ctx, "collection.list", request, work)

    def delete_collection(self, ctx: RequestContext, collection_id: str) -> CollectionInfo:
        def work(_: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.delete_collection(ctx.tenant_id, collection_id)
            return info, {"deleted_faces": info.face_count, "deleted_users": info.user_count}

        return self._run(ctx, "collection.delete", {"collection_id": collection_id}, work)

    # ------------------------------------------------------------------ indexing
    def _index_request(
        self, collection_id: str, digest: str | None, external_image_id: str | None,
        max_faces: int, quality_filter: QualityFilter | str, consent: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        from faceledger import validation

        if not 1 <= max_faces <= DEFAULT_MAX_FACES:
            raise InvalidRequestError(f"max_faces must be between 1 and {DEFAULT_MAX_FACES}")
        return {
            "collection_id": collection_id,
            "image_sha256": digest,
            "external_image_id": validation.clean_text(
                external_image_id, "external_image_id", validation.MAX_EXTERNAL_ID
            ),
            "max_faces": max_faces,
            "quality_filter": str(QualityFilter(quality_filter)),
            "consent": validation.clean_text(consent, "consent", validation.MAX_REFERENCE),
        }

    def _store_faces(
        self, ctx: RequestContext, request: dict[str, Any], faces: list[Face]
    ) -> tuple[IndexResult, dict[str, Any]]:
        """Filter by quality, keep the ``max_faces`` largest, commit them (one transaction)."""
        result = IndexResult(request["image_sha256"], request["external_image_id"])
        keep: list[Face] = []
        for face in faces:  # largest first
            reasons = quality_reasons(face, request["quality_filter"])
            if reasons:
                result.unindexed_faces.append(UnindexedFace(face, reasons))
            elif len(keep) >= request["max_faces"]:
                result.unindexed_faces.append(UnindexedFace(face, ["EXCEEDS_MAX_FACES"]))
            else:
                keep.append(face)
        result.face_records = self.store.add_image_faces(
            ctx.tenant_id,
            request["collection_id"],
            image_sha256=request["image_sha256"],
            external_image_id=request["external_image_id"],
            faces=keep,
        )
        outcome = {
            "face_ids": [r.face_id for r in result.face_records],
            "unindexed": [u.reasons for u in result.unindexed_faces],
        }
        return result, outcome

    def index_faces(
        self,
        ctx: RequestContext,
        collection_id: str,
        image: ImageInput,
        *,
        external_image_id: str | None = None,
        max_faces: int = DEFAULT_MAX_FACES,
        quality_filter: QualityFilter | str = QualityFilter.LOW,
        skip_indexed: bool = False,
        consent: str | None = None,
    ) -> IndexResult:
        """Detect the faces of ``image``, store those that pass the quality filter (at most
        ``max_faces``, largest first) and return them, with the others and why. The faces are
        committed before this returns. ``skip_indexed``: an image already in the collection
        (same SHA-256) is not indexed again (``skipped=True``). ``consent``: a reference to the
        recorded consent of the person whose face this is (policies can require it)."""
        data, digest = image_digest(image)
        request = self._index_request(
            collection_id, digest, external_image_id, max_faces, quality_filter, consent
        )

        def work(_: Decision) -> tuple[IndexResult, dict[str, Any]]:
            if skip_indexed:
                done = self.store.find_image(ctx.tenant_id, collection_id, digest)
                if done is not None:
                    skipped = IndexResult(digest, done.external_image_id, skipped=True)
                    skipped.skipped_face_ids = list(done.face_ids)
                    return skipped, {"skipped": True, "face_ids": list(done.face_ids)}
            self.store.describe_collection(ctx.tenant_id, collection_id)  # fail before embedding
            return self._store_faces(ctx, request, self.engine.represent(data))

        return self._run(ctx, "faces.index", request, work)

    def index_images(
        self,
        ctx: RequestContext,
        collection_id: str,
        paths: Iterable[str | os.PathLike[str]],
        *,
        external_ids: Callable[[Path], str] | None = None,
        max_faces: int = DEFAULT_MAX_FACES,
        quality_filter: QualityFilter | str = QualityFilter.LOW,
        resume: bool = True,
        workers: int | None = None,
        progress: bool = True,
        consent: str | None = None,
    ) -> Iterator[tuple[str, IndexResult | FaceledgerError]]:
        """Index many image files on all cores; yields each image's result once committed.

        Each image is one request (decided and recorded on its own). ``resume``: images whose
        SHA-256 is already recorded in the collection are skipped, so an interrupted run picks
        up where it stopped. Embedding runs in worker processes; this process is the only
        writer. ``external_ids`` maps a path to its external id (default: the file name).
        """
        name_of = external_ids or (lambda p: p.name)
        paths = [str(p) for p in paths]
        digests: dict[str, str] = {}
        if resume:
            for path in paths:
                try:
                    digests[path] = image_digest(path)[1]
                except FaceledgerError as exc:
                    yield path, exc
            paths = [p for p in paths if p in digests]
        done = self._indexed(ctx, collection_id, sorted(set(digests.values())))
        pending: list[str] = []
        for path in paths:
            record = done.get(digests.get(path, ""))
            if record is not None:
                skipped = IndexResult(record.image_sha256, record.external_image_id, skipped=True)
                skipped.skipped_face_ids = list(record.face_ids)
                yield path, skipped
                continue
            pending.append(path)
        for path, embedded in process_images(
            pending,
            _embed_file,
            config=self.engine.config,
            workers=workers,
            progress=progress,
            desc="indexing",
        ):
            if isinstance(embedded, FaceledgerError):
                yield path, embedded
                continue
            digest, faces = embedded
            try:
                request = self._index_request(
                    collection_id, digest, name_of(Path(path)), max_faces, quality_filter,
                    consent,
                )  # fmt: skip
                result = self._run(
                    ctx, "faces.index", request, lambda _d, r=request, f=faces: (
                        self._store_faces(ctx, r, f)
                    ),
                )  # fmt: skip
            except FaceledgerError as exc:
                yield path, exc
                continue
            yield path, result

    def _indexed(
        self, ctx: RequestContext, collection_id: str, digests: Sequence[str]
    ) -> dict[str, ImageRecord]:
        """Which of these images the collection holds already (a governed read: faces.list);
        also fails early when the collection does not exist."""
        request = {"collection_id": collection_id, "image_sha256": list(digests)}

        def work(_: Decision) -> tuple[dict[str, ImageRecord], dict[str, Any]]:
            self.store.describe_collection(ctx.tenant_id, collection_id)
            found = {}
            if digests:
                done = self.store.indexed_images(ctx.tenant_id, collection_id)
                for digest in digests:
                    if digest in done:
                        record = self.store.find_image(ctx.tenant_id, collection_id, digest)
                        if record is not None:
                            found[digest] = record
            face_ids = [f for r in found.values() for f in r.face_ids]
            return found, {"count": len(found), "face_ids": face_ids}

        return self._run(ctx, "faces.list", request, work)

    # ------------------------------------------------------------------ faces
    def list_faces(
        self,
        ctx: RequestContext,
        collection_id: str,
        *,
        limit: int = 100,
        next_token: str | None = None,
        user_id: str | None = None,
        face_ids: Sequence[str] | None = None,
    ) -> Page[FaceRecord]:
        """Faces in insertion order; ``next_token`` continues a listing."""
        request = {
            "collection_id": collection_id,
            "limit": limit,
            "next_token": next_token,
            "user_id": user_id,
            "face_ids": list(face_ids) if face_ids is not None else None,
        }

        def work(_: Decision) -> tuple[Page[FaceRecord], dict[str, Any]]:
            page = self.store.list_faces(
                ctx.tenant_id, collection_id, limit=min(limit, MAX_PAGE),
                next_token=next_token, user_id=user_id, face_ids=face_ids,
            )  # fmt: skip
            return page, {"face_ids": [f.face_id for f in page.items]}

        return self._run(ctx, "faces.list", request, work)

    def delete_faces(
        self, ctx: RequestContext, collection_id: str, face_ids: Sequence[str]
    ) -> list[str]:
        """Delete faces; returns the ids deleted (unknown ids are left out)."""
        request = {"collection_id": collection_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[list[str], dict[str, Any]]:
            deleted = self.store.delete_faces(ctx.tenant_id, collection_id, face_ids)
            return deleted, {"deleted_face_ids": deleted}

        return self._run(ctx, "faces.delete", request, work)

    # ------------------------------------------------------------------ search
    def _stored_face(self, ctx: RequestContext, collection_id: str, face_id: str):  # noqa: ANN202
        emb = self.store.get_embeddings(ctx.tenant_id, collection_id, [face_id])
        if face_id not in emb:
            raise NotFoundError(f"face {face_id!r} not found in collection {collection_id!r}")
        (record,) = self.store.list_faces(ctx.tenant_id, collection_id, face_ids=[face_id]).items
        return record, emb[face_id]

    def search_faces(
        self,
        ctx: RequestContext,
        collection_id: str,
        face_id: str,
        *,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_results: int = DEFAULT_MAX_RESULTS,
        approximate: bool = False,
    ) -> SearchResult:
        """Faces of the collection most similar to a stored face (itself excluded).
        ``approximate`` opts in to the approximate index (may miss a match; see docs/store.md)."""
        mode = _search_mode(approximate)
        request = {
            "collection_id": collection_id,
            "face_id": face_id,
            "threshold": threshold,
            "max_results": max_results,
            "search_mode": mode,
        }

        def work(decision: Decision) -> tuple[SearchResult, dict[str, Any]]:
            model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
            thr, max_distance, k = self._limits(decision, threshold, max_results, model)
            record, vec = self._stored_face(ctx, collection_id, face_id)
            hits = self.store.search(
                ctx.tenant_id, collection_id, vec, k=k + 1, max_distance=max_distance,
                exact=not approximate,
            )  # fmt: skip
            hits = [h for h in hits if h.face.face_id != face_id][:k]
            searches = [FaceSearch(record, hits)]
            result = SearchResult(collection_id, model, thr, k, searches, search_mode=mode)
            return result, {"results": self._hits(hits), "threshold": thr, "search_mode": mode}

        return self._run(ctx, "faces.search", request, work, lead_results=_search_rows)

    def search_faces_by_image(
        self,
        ctx: RequestContext,
        collection_id: str,
        image: ImageInput,
        *,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_results: int = DEFAULT_MAX_RESULTS,
        all_faces: bool = False,
        approximate: bool = False,
    ) -> SearchResult:
        """Search with the largest face of ``image`` (or every face with ``all_faces``).
        No face in the image gives no searches; it is not an error. ``approximate`` opts in to
        the approximate index (may miss a match; see docs/store.md)."""
        data, digest = image_digest(image)
        mode = _search_mode(approximate)
        request = {
            "collection_id": collection_id,
            "image_sha256": digest,
            "threshold": threshold,
            "max_results": max_results,
            "all_faces": all_faces,
            "search_mode": mode,
        }

        def work(decision: Decision) -> tuple[SearchResult, dict[str, Any]]:
            model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
            thr, max_distance, k = self._limits(decision, threshold, max_results, model)
            faces = self.engine.represent(data)
            searches = []
            for face in faces if all_faces else faces[:1]:
                hits = self.store.search(
                    ctx.tenant_id, collection_id, face.embedding, k=k,  # type: ignore[arg-type]
                    max_distance=max_distance, model_id=face.model_id, exact=not approximate,
                )  # fmt: skip
                searches.append(FaceSearch(face, hits))
            result = SearchResult(collection_id, model, thr, k, searches, digest, mode)
            outcome = {
                "faces_searched": len(searches),
                "results": [h for s in searches for h in self._hits(s.matches)],
                "threshold": thr,
                "search_mode": mode,
            }
            return result, outcome

        return self._run(ctx, "faces.search_by_image", request, work, lead_results=_search_rows)

    # ------------------------------------------------------------------ users
    def create_user(self, ctx: RequestContext, collection_id: str, user_id: str) -> UserRecord:
        request = {"collection_id": collection_id, "user_id": user_id}
        return self._run(
            ctx, "users.create", request,
            lambda _: (self.store.create_user(ctx.tenant_id, collection_id, user_id), {}),
        )  # fmt: skip

    def delete_user(self, ctx: RequestContext, collection_id: str, user_id: str) -> UserRecord:
        request = {"collection_id": collection_id, "user_id": user_id}

        def work(_: Decision) -> tuple[UserRecord, dict[str, Any]]:
            record = self.store.delete_user(ctx.tenant_id, collection_id, user_id)
            return record, {"disassociated_faces": record.face_count}

        return self._run(ctx, "users.delete", request, work)

    def list_users(
        self,
        ctx: RequestContext,
        collection_id: str,
        *,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[UserRecord]:
        request = {"collection_id": collection_id, "limit": limit, "next_token": next_token}

        def work(_: Decision) -> tuple[Page[UserRecord], dict[str, Any]]:
            page = self.store.list_users(
                ctx.tenant_id, collection_id, limit=limit, next_token=next_token
            )
            return page, {"user_ids": [u.user_id for u in page.items]}

        return self._run(ctx, "users.list", request, work)

    def associate_faces(
        self, ctx: RequestContext, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult:
        """Associate 1–100 faces to a user (a face belongs to at most one user)."""
        request = {"collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            r = self.store.associate_faces(ctx.tenant_id, collection_id, user_id, face_ids)
            return r, {"associated": r.succeeded, "unsuccessful": r.unsuccessful}

        return self._run(ctx, "users.associate", request, work)

    def disassociate_faces(
        self, ctx: RequestContext, collection_id: str, user_id: str, face_ids: Sequence[str]
    ) -> AssociationResult:
        request = {"collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            r = self.store.disassociate_faces(ctx.tenant_id, collection_id, user_id, face_ids)
            return r, {"disassociated": r.succeeded, "unsuccessful": r.unsuccessful}

        return self._run(ctx, "users.disassociate", request, work)

    def search_users(
        self,
        ctx: RequestContext,
        collection_id: str,
        *,
        face_id: str | None = None,
        image: ImageInput | None = None,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_users: int = DEFAULT_MAX_RESULTS,
        aggregation: str = DEFAULT_USER_AGGREGATION,
    ) -> UserSearchResult:
        """Users whose faces match a stored face or the largest face of an image.

        A user's score aggregates its associated faces (``aggregation``, default: the most
        similar face). Searching by a stored face leaves that face out of its own user.
        """
        if (face_id is None) == (image is None):
            raise InvalidRequestError("give either a face id or an image")
        if aggregation not in USER_AGGREGATIONS:
            raise InvalidRequestError(f"aggregation must be one of {USER_AGGREGATIONS}")
        data, digest = image_digest(image) if image is not None else (None, None)
        request = {
            "collection_id": collection_id,
            "face_id": face_id,
            "image_sha256": digest,
            "threshold": threshold,
            "max_results": max_users,
            "aggregation": aggregation,
        }

        def work(decision: Decision) -> tuple[UserSearchResult, dict[str, Any]]:
            model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
            thr, max_distance, k = self._limits(decision, threshold, max_users, model)
            searched: Face | FaceRecord | None
            if face_id is not None:
                searched, vec = self._stored_face(ctx, collection_id, face_id)
            else:
                faces = self.engine.represent(data)  # type: ignore[arg-type]
                searched = faces[0] if faces else None
                vec = faces[0].embedding if faces else None
                if faces and faces[0].model_id != model:
                    raise ModelError(
                        f"collection {collection_id!r} holds embeddings of model {model!r};"
                        f" this engine makes {faces[0].model_id!r}"
                    )
            matches: list[UserMatch] = []
            if vec is not None:
                for user, (ids, emb) in self.store.user_embeddings(
                    ctx.tenant_id, collection_id
                ).items():
                    mask = [i != face_id for i in ids]
                    if not any(mask):
                        continue
                    d = user_distance(vec, emb[mask], aggregation)
                    if max_distance is None or d <= max_distance:
                        s = float(similarity_from_distance(d, model))
                        matches.append(UserMatch(user, s, d, int(sum(mask))))
                matches.sort(key=lambda m: (m.distance, m.user_id))
                matches = matches[:k]
            result = UserSearchResult(collection_id, thr, aggregation, searched, matches, digest)
            outcome = {
                "results": [
                    {"user_id": m.user_id, "similarity": round(m.similarity, 4)} for m in matches
                ],
                "threshold": thr,
            }
            return result, outcome

        return self._run(ctx, "users.search", request, work, lead_results=_user_rows)

    # ------------------------------------------------------------------ 1:1 and detection
    def compare(
        self,
        ctx: RequestContext,
        source: ImageInput,
        target: ImageInput,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Comparison:
        """The largest face of ``source`` against every face of ``target`` (no store involved,
        but governed like everything else: a policy can require purpose, case and review)."""
        src, src_digest = image_digest(source)
        tgt, tgt_digest = image_digest(target)
        request = {"image_sha256": [src_digest, tgt_digest], "threshold": threshold}

        def work(decision: Decision) -> tuple[Comparison, dict[str, Any]]:
            thr, _, _ = self._limits(decision, threshold, 1, self.engine.model_id)
            result = self.engine.compare(src, tgt, threshold=thr)
            rows = [
                {"similarity": round(m.similarity, 4), "match": m.match} for m in result.matches
            ]
            return result, {"results": rows, "threshold": thr}

        return self._run(ctx, "compare", request, work, lead_results=_compare_rows)

    def detect(self, ctx: RequestContext, image: ImageInput) -> list[Face]:
        """Faces in ``image`` (boxes, landmarks, pose, quality; no embeddings kept)."""
        data, digest = image_digest(image)

        def work(_: Decision) -> tuple[list[Face], dict[str, Any]]:
            faces = self.engine.detect(data)
            return faces, {"count": len(faces)}

        return self._run(ctx, "detect", {"image_sha256": digest}, work)


def _search_mode(approximate: bool) -> str:
    return "approximate" if approximate else "exact"


def _search_rows(result: SearchResult) -> list[dict[str, Any]]:
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


def _user_rows(result: UserSearchResult) -> list[dict[str, Any]]:
    return [
        {"user_id": m.user_id, "similarity": round(m.similarity, 4), "face_count": m.face_count}
        for m in result.matches
    ]


def _compare_rows(result: Comparison) -> list[dict[str, Any]]:
    return [
        {"target_face": i, "similarity": round(m.similarity, 4), "match": m.match}
        for i, m in enumerate(result.matches)
    ]
