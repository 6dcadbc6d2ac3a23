"""FaceService: collections, faces and 1:N search (users in ``service.users``), each call one
governed unit of work (``service.unit``).

This is the only code that touches a face store. Every public method takes the
:class:`RequestContext` first; the gate decides before anything is read, decoded or embedded (a
denial raises :class:`PolicyDenied`), and every request is recorded exactly once, allowed or
denied, succeeded or failed, with the request (collection, SHA-256 of input images, parameters)
and the outcome (face ids, result ids with similarities, or the error code). A change to the
store and its audit record commit together. Every store call is scoped by ``ctx.tenant_id``. A
decision's ``min_similarity`` raises the caller's threshold and its ``max_results`` caps the
number of results of the whole request. Methods return :class:`Governed` (the result and the
decision that allowed it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from faceledger import validation
from faceledger.engine.batch import process_images
from faceledger.engine.core import Engine
from faceledger.engine.similarity import (
    DEFAULT_SEARCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    distance_from_similarity,
)
from faceledger.engine.types import Comparison, Face
from faceledger.errors import FaceledgerError, ImageError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.images import ImageInput, image_size
from faceledger.service.crops import CropOperations, crop_jpeg, crops_of, lead_extras
from faceledger.service.error_rates import gallery_rates, logged_rates, probe_rates
from faceledger.service.evaluation import EvaluationOperations
from faceledger.service.footage import FootageOperations
from faceledger.service.gate import Gate
from faceledger.service.intake import image_digest
from faceledger.service.lifecycle import LifecycleOperations
from faceledger.service.quality import (
    QUALITY_BARS,
    QualityBar,
    QualityFilter,
    pick_searched,
    quality_reasons,
)
from faceledger.service.reports import ReportOperations
from faceledger.service.results import (
    FaceSearch,
    IndexResult,
    SearchResult,
    UnindexedFace,
    UserMatch,
    UserSearchResult,
    compare_rows,
    search_rows,
)
from faceledger.service.unit import Governed, PolicyDenied, ResultsWithheld, UnitOfWork
from faceledger.service.users import (
    DEFAULT_USER_AGGREGATION,
    USER_AGGREGATIONS,
    UserOperations,
    user_distance,
)
from faceledger.service.video import VideoOperations
from faceledger.store.base import (
    MAX_PAGE,
    CollectionInfo,
    FaceHit,
    FaceRecord,
    FaceStore,
    ImageRecord,
    InvalidRequestError,
    NotFoundError,
    Page,
)

__all__ = [
    "DEFAULT_USER_AGGREGATION",
    "QUALITY_BARS",
    "USER_AGGREGATIONS",
    "FaceSearch",
    "FaceService",
    "Governed",
    "IndexResult",
    "PolicyDenied",
    "QualityBar",
    "QualityFilter",
    "ResultsWithheld",
    "SearchResult",
    "UnindexedFace",
    "UserMatch",
    "UserSearchResult",
    "image_digest",
    "quality_reasons",
    "select_faces",
    "user_distance",
]

MAX_RESULTS = 4096
DEFAULT_MAX_RESULTS = 10
DEFAULT_MAX_FACES = 100
MAX_RETENTION_DAYS = 36_500
ONE_TO_MANY_COMPARE = "compare.one_to_many"
"""A compare whose target holds more than one face: identification, decided as such."""


def select_faces(
    faces: list[Face], max_faces: int, quality_filter: QualityFilter | str
) -> tuple[list[Face], list[UnindexedFace]]:
    """The faces to index (largest first: those that pass the quality filter, at most
    ``max_faces``) and the others with why; decided before any face is embedded."""
    keep: list[Face] = []
    unindexed: list[UnindexedFace] = []
    for face in faces:  # largest first
        reasons = quality_reasons(face, quality_filter)
        if reasons:
            unindexed.append(UnindexedFace(face, reasons))
        elif len(keep) >= max_faces:
            unindexed.append(UnindexedFace(face, ["EXCEEDS_MAX_FACES"]))
        else:
            keep.append(face)
    for u in unindexed:
        u.face.chips = None
    return keep, unindexed


def embed_selected(
    engine: Engine, image: ImageInput, max_faces: int, quality_filter: QualityFilter | str
) -> tuple[list[Face], list[UnindexedFace], list[bytes | None]]:
    """Detect every face, embed only the ones that will be kept; with their crops (JPEG, kept
    where the collection says so)."""
    keep, unindexed = select_faces(engine.detect(image, keep_chips=True), max_faces, quality_filter)
    crops = [crop_jpeg(f) for f in keep]
    engine.embed_faces(keep)
    return keep, unindexed, crops


def _embed_file(
    engine: Engine, path: str, *, max_faces: int, quality_filter: str
) -> tuple[str, list[Face], list[UnindexedFace], tuple[int, int], list[bytes | None]]:
    """Worker task for bulk indexing: SHA-256 of the file, its selected, embedded faces, the
    image's size and the faces' crops."""
    data, digest = image_digest(path)
    keep, unindexed, crops = embed_selected(engine, data, max_faces, quality_filter)
    return digest, keep, unindexed, image_size(data), crops


class FaceService(
    UserOperations,
    LifecycleOperations,
    ReportOperations,
    EvaluationOperations,
    CropOperations,
    VideoOperations,
    FootageOperations,
):
    """The one door to the face store. See the module docstring for the contract."""

    def __init__(
        self,
        store: FaceStore,
        engine: Engine,
        gate: Gate,
        audits: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.gate = gate
        self.unit = UnitOfWork(gate, store)
        self.audits = audits or (lambda _model_id: None)
        """The newest fairness audit on file for a model id (``fairness.onfile.latest``)."""

    def _error_rates(self, age_band: str | None) -> dict[str, Any]:
        return probe_rates(self.engine.model_id, self.audits, age_band)

    # ------------------------------------------------------------------ plumbing
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
    def create_collection(
        self,
        ctx: RequestContext,
        collection_id: str,
        *,
        retention_days: int | None = None,
        until_case_closed: bool = False,
        days_since_match: int | None = None,
        keep_crops: bool | None = None,
    ) -> Governed[CollectionInfo]:
        """A new collection for this engine's model id, with its retention rule: faces are kept
        ``retention_days`` after enrolment (default: the policy's cap), and with
        ``until_case_closed`` only with a case reference, until the case is closed; with
        ``days_since_match``, no longer than that many days after a search last returned it.
        ``keep_crops``: keep a small crop of each enrolled face for reviewers (default: when
        the policy holds this organization's identifications for review)."""
        for name, days in (("retention_days", retention_days), ("days_since_match",
                                                                 days_since_match)):  # fmt: skip
            if days is not None and (isinstance(days, bool) or not 1 <= days <= MAX_RETENTION_DAYS):
                raise InvalidRequestError(
                    f"{name} must be a whole number of days, 1 to {MAX_RETENTION_DAYS}"
                )
        request = {
            "collection_id": collection_id,
            "model_id": self.engine.model_id,
            "retention_days": retention_days,
            "until_case_closed": until_case_closed,
            "days_since_match": days_since_match,
            "keep_crops": keep_crops,
        }

        def work(decision: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.create_collection(ctx.tenant_id, collection_id, self.engine.model_id)
            self._set_retention(
                ctx, collection_id, decision, retention_days, until_case_closed, days_since_match
            )
            keep = self._default_keep_crops(ctx) if keep_crops is None else bool(keep_crops)
            self.store.set_keep_crops(ctx.tenant_id, collection_id, keep)
            return info, {"collection_id": collection_id, "keep_crops": keep}

        return self.unit.run(ctx, "collection.create", request, work, writes=True)

    def describe_collection(
        self, ctx: RequestContext, collection_id: str
    ) -> Governed[CollectionInfo]:
        def work(_: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            keep = self.store.keeps_crops(ctx.tenant_id, collection_id)
            info = dataclasses.replace(info, keep_crops=keep)
            return info, {"face_count": info.face_count, "user_count": info.user_count}

        return self.unit.run(ctx, "collection.describe", {"collection_id": collection_id}, work)

    def list_collections(
        self, ctx: RequestContext, *, limit: int = 100, next_token: str | None = None
    ) -> Governed[Page[CollectionInfo]]:
        def work(_: Decision) -> tuple[Page[CollectionInfo], dict[str, Any]]:
            page = self.store.list_collections(ctx.tenant_id, limit=limit, next_token=next_token)
            return page, {"collection_ids": [c.collection_id for c in page.items]}

        request = {"limit": limit, "next_token": next_token}
        return self.unit.run(ctx, "collection.list", request, work)

    def delete_collection(
        self, ctx: RequestContext, collection_id: str
    ) -> Governed[CollectionInfo]:
        def work(_: Decision) -> tuple[CollectionInfo, dict[str, Any]]:
            info = self.store.delete_collection(ctx.tenant_id, collection_id)
            return info, {"deleted_faces": info.face_count, "deleted_users": info.user_count}

        request = {"collection_id": collection_id}
        return self.unit.run(ctx, "collection.delete", request, work, writes=True)

    # ------------------------------------------------------------------ indexing
    def _index_request(
        self, collection_id: str, digest: str | None, external_image_id: str | None,
        max_faces: int, quality_filter: QualityFilter | str, consent: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
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
        self,
        ctx: RequestContext,
        request: dict[str, Any],
        keep: list[Face],
        unindexed: list[UnindexedFace],
        size: tuple[int, int] | None = None,
        crops: Sequence[bytes | None] = (),
    ) -> tuple[IndexResult, dict[str, Any]]:
        """Commit the selected faces of one image (inside the unit's transaction)."""
        result = IndexResult(request["image_sha256"], request["external_image_id"])
        result.unindexed_faces = unindexed
        result.faces = keep
        result.face_records = self.store.add_image_faces(
            ctx.tenant_id,
            request["collection_id"],
            image_sha256=request["image_sha256"],
            external_image_id=request["external_image_id"],
            faces=keep,
            image_size=size,
        )
        face_ids = [r.face_id for r in result.face_records]
        consent_id = self._bind_enrolment(ctx, request, face_ids)
        kept, collection_id = 0, request["collection_id"]
        if face_ids and any(crops) and self.store.keeps_crops(ctx.tenant_id, collection_id):
            pairs = {f: c for f, c in zip(face_ids, crops, strict=False) if c}
            kept = self.store.put_face_crops(ctx.tenant_id, collection_id, pairs)
        outcome = {
            "face_ids": face_ids,
            "crops": kept,
            "unindexed": [u.reasons for u in result.unindexed_faces],
            "consent_id": consent_id,
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
    ) -> Governed[IndexResult]:
        """Detect the faces of ``image``, store those that pass the quality filter (at most
        ``max_faces``, largest first; only those are embedded) and return them, with the others
        and why. The faces and their audit record are committed before this returns.
        ``skip_indexed``: an image already in the collection (same SHA-256) is not indexed
        again (``skipped=True``). ``consent``: a reference to the recorded consent of the
        person whose face this is (policies can require it)."""
        data, digest = image_digest(image)
        request = self._index_request(
            collection_id, digest, external_image_id, max_faces, quality_filter, consent
        )

        def prepare(
            _: Decision,
        ) -> IndexResult | tuple[Any, ...]:
            if skip_indexed:
                done = self.store.find_image(ctx.tenant_id, collection_id, digest)
                if done is not None:
                    skipped = IndexResult(digest, done.external_image_id, skipped=True)
                    skipped.skipped_face_ids = list(done.face_ids)
                    return skipped
            self.store.describe_collection(ctx.tenant_id, collection_id)  # fail before embedding
            self._check_enrolment(ctx, request, create=False)  # consent and retention, too
            quality = request["quality_filter"]
            keep, unindexed, crops = embed_selected(self.engine, data, max_faces, quality)
            return keep, unindexed, image_size(data), crops

        def work(
            _: Decision, prepared: IndexResult | tuple[Any, ...]
        ) -> tuple[IndexResult, dict[str, Any]]:
            if isinstance(prepared, IndexResult):
                return prepared, {"skipped": True, "face_ids": prepared.skipped_face_ids}
            return self._store_faces(ctx, request, *prepared)

        return self.unit.run(ctx, "faces.index", request, work, prepare=prepare, writes=True)

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
    ) -> Iterator[tuple[str, Governed[IndexResult] | IndexResult | FaceledgerError]]:
        """Index many image files on all cores; yields each image's result once committed.

        Each image is one request, decided before its pixels are decoded and recorded on its
        own. A policy denial stops the run (every image of it declares the same: the first
        denial is yielded and nothing further is done). ``resume``: images whose SHA-256 is
        already recorded in the collection are skipped (yielded as a bare ``IndexResult``
        with ``skipped``), so an interrupted run picks up where it stopped. Embedding runs in
        worker processes (only the faces that will be kept); this process is the only writer.
        ``external_ids`` maps a path to its external id (default: the file name).
        """
        name_of = external_ids or (lambda p: p.name)
        quality = str(QualityFilter(quality_filter))
        digests: dict[str, str] = {}
        for path in (str(p) for p in paths):
            try:
                digests[path] = image_digest(path)[1]
            except FaceledgerError as exc:
                yield path, exc
        done = self._indexed(ctx, collection_id, sorted(set(digests.values())) if resume else [])
        planned: dict[str, tuple[dict[str, Any], Decision]] = {}
        for path, digest in digests.items():
            record = done.get(digest)
            if record is not None:
                skipped = IndexResult(record.image_sha256, record.external_image_id, skipped=True)
                skipped.skipped_face_ids = list(record.face_ids)
                yield path, skipped
                continue
            request = self._index_request(
                collection_id, digest, name_of(Path(path)), max_faces, quality, consent
            )
            decision = self.unit.decide(ctx, "faces.index", request)
            if not decision.allowed:
                yield path, self.unit.deny(ctx, "faces.index", request, decision)
                return
            planned[path] = (request, decision)
        task = partial(_embed_file, max_faces=max_faces, quality_filter=quality)
        for path, embedded in process_images(
            list(planned), task, config=self.engine.config, workers=workers,
            progress=progress, desc="indexing",
        ):  # fmt: skip
            request, decision = planned[path]
            try:
                yield path, self._commit_embedded(ctx, request, decision, embedded)
            except FaceledgerError as exc:
                yield path, exc

    def _commit_embedded(
        self,
        ctx: RequestContext,
        request: dict[str, Any],
        decision: Decision,
        embedded: tuple[Any, ...] | FaceledgerError,
    ) -> Governed[IndexResult]:
        def work(_: Decision) -> tuple[IndexResult, dict[str, Any]]:
            if isinstance(embedded, FaceledgerError):
                raise embedded
            digest, keep, unindexed, size, crops = embedded
            if digest != request["image_sha256"]:
                raise ImageError("the file changed while it was being indexed", code="changed")
            return self._store_faces(ctx, request, keep, unindexed, size, crops)

        return self.unit.run(ctx, "faces.index", request, work, decision=decision, writes=True)

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

        return self.unit.run(ctx, "faces.list", request, work).result

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
    ) -> Governed[Page[FaceRecord]]:
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

        return self.unit.run(ctx, "faces.list", request, work)

    def delete_faces(
        self,
        ctx: RequestContext,
        collection_id: str,
        face_ids: Sequence[str],
        *,
        must_exist: bool = False,
    ) -> Governed[list[str]]:
        """Delete faces; returns the ids deleted (unknown ids are left out, or with
        ``must_exist`` the request fails as not found and deletes nothing)."""
        request = {"collection_id": collection_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[list[str], dict[str, Any]]:
            deleted = self.store.delete_faces(ctx.tenant_id, collection_id, face_ids)
            missing = sorted(set(face_ids) - set(deleted))
            if must_exist and missing:
                raise NotFoundError(
                    f"face(s) {', '.join(map(repr, missing))} not found in collection "
                    f"{collection_id!r}"
                )
            return deleted, {"face_ids": deleted, "count": len(deleted)}

        return self.unit.run(ctx, "faces.delete", request, work, writes=True)

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
        age_band: str | None = None,
    ) -> Governed[SearchResult]:
        """Faces of the collection most similar to a stored face (itself excluded).
        ``approximate`` opts in to the approximate index (may miss a match; see docs/store.md).
        ``age_band``: the probe's age band as the operator declares it (never inferred)."""
        mode = _search_mode(approximate)
        request = {
            "collection_id": collection_id,
            "face_id": face_id,
            "threshold": threshold,
            "max_results": max_results,
            "search_mode": mode,
            "age_band": age_band,
            "error_rates": self._error_rates(age_band),
        }

        def work(decision: Decision) -> tuple[SearchResult, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            model = info.model_id
            thr, max_distance, k = self._limits(decision, threshold, max_results, model)
            rates = gallery_rates(self.audits, decision, request, info, thr, probe_enrolled=True)
            record, vec = self._stored_face(ctx, collection_id, face_id)
            hits = self.store.search(
                ctx.tenant_id, collection_id, vec, k=k + 1, max_distance=max_distance,
                exact=not approximate,
            )  # fmt: skip
            hits = [h for h in hits if h.face.face_id != face_id][:k]
            self._matched(ctx, collection_id, hits)
            searches = [FaceSearch(record, hits)]
            result = SearchResult(
                collection_id, model, thr, k, searches, search_mode=mode,
                error_rates=rates,
            )  # fmt: skip
            result.gallery_size = info.face_count
            if decision.review_required:  # the lead shows its reviewers the searched face
                probe = self.store.face_crop(ctx.tenant_id, face_id)
                result.probe_crops = [probe[1]] if probe else []
            outcome = {"results": self._hits(hits), "threshold": thr, "search_mode": mode}
            return result, {**outcome, "error_rates": logged_rates(rates)}

        return self.unit.run(
            ctx, "faces.search", request, work, lead_results=search_rows,
            lead_extras=lead_extras,
        )  # fmt: skip

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
        quality_filter: QualityFilter | str = QualityFilter.NONE,
        age_band: str | None = None,
    ) -> Governed[SearchResult]:
        """Search with the largest face of ``image`` (or every face with ``all_faces``).
        No face in the image gives no searches; it is not an error. ``max_results`` (and the
        policy's cap) bounds the matches of the whole request, all searched faces together:
        the most similar are kept. ``approximate`` opts in to the approximate index (may miss a
        match; see docs/store.md). ``quality_filter``: faces below its bar are not searched
        (the largest face that passes is); the others are in ``unsearched_faces``."""
        data, digest = image_digest(image)
        mode = _search_mode(approximate)
        quality = str(QualityFilter(quality_filter))
        request = {
            "collection_id": collection_id,
            "image_sha256": digest,
            "threshold": threshold,
            "max_results": max_results,
            "all_faces": all_faces,
            "search_mode": mode,
            "quality_filter": quality,
            "age_band": age_band,
            "error_rates": self._error_rates(age_band),
        }

        def work(decision: Decision) -> tuple[SearchResult, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            model = info.model_id
            thr, max_distance, k = self._limits(decision, threshold, max_results, model)
            rates = gallery_rates(self.audits, decision, request, info, thr)
            detected = self.engine.detect(data, keep_chips=True)
            if all_faces:
                faces, skipped = [], []
                for f in detected:
                    if reasons := quality_reasons(f, quality):
                        skipped.append((f, reasons))
                    else:
                        faces.append(f)
            else:
                searched, skipped = pick_searched(detected, quality)
                faces = [searched] if searched is not None else []
            probes = crops_of(faces) if decision.review_required else []
            self.engine.embed_faces(faces)
            searches = []
            for face in faces:
                hits = self.store.search(
                    ctx.tenant_id, collection_id, face.embedding, k=k,  # type: ignore[arg-type]
                    max_distance=max_distance, model_id=face.model_id, exact=not approximate,
                )  # fmt: skip
                searches.append(FaceSearch(face, hits))
            _cap_matches(searches, k)
            unsearched = [UnindexedFace(f, reasons) for f, reasons in skipped]
            self._matched(ctx, collection_id, [h for s in searches for h in s.matches])
            result = SearchResult(
                collection_id, model, thr, k, searches, digest, mode, unsearched,
                error_rates=rates,
            )  # fmt: skip
            result.gallery_size = info.face_count
            result.probe_crops = probes
            outcome = {
                "faces_searched": len(searches),
                "faces_not_searched": len(unsearched),
                "results": [h for s in searches for h in self._hits(s.matches)],
                "threshold": thr,
                "search_mode": mode,
                "error_rates": logged_rates(rates),
            }
            return result, outcome

        return self.unit.run(
            ctx, "faces.search_by_image", request, work, lead_results=search_rows,
            lead_extras=lead_extras,
        )  # fmt: skip

    # ------------------------------------------------------------------ 1:1 and detection
    def compare(
        self,
        ctx: RequestContext,
        source: ImageInput,
        target: ImageInput,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_results: int = DEFAULT_MAX_FACES,
        quality_filter: QualityFilter | str = QualityFilter.NONE,
    ) -> Governed[Comparison]:
        """The largest face of ``source`` against every face of ``target`` (no store involved,
        but governed like everything else).

        A target holding more than one face makes this identification (who among these is
        the source?): after the ``compare`` decision allows looking at the target, its faces
        are counted and, when there are several, the request is decided again as
        ``compare.one_to_many`` under the same rules as a search (moratorium, authorization,
        similarity floor, result cap, review). Only then are faces embedded. The cap keeps
        the most similar target faces. ``quality_filter``: faces below its bar are not
        compared (the source's largest face that passes is used); the policy still counts every
        face of the target."""
        src, src_digest = image_digest(source)
        tgt, tgt_digest = image_digest(target)
        quality = str(QualityFilter(quality_filter))
        request: dict[str, Any] = {
            "image_sha256": [src_digest, tgt_digest],
            "threshold": threshold,
            "max_results": max_results,
            "quality_filter": quality,
        }
        decision = self.unit.decide(ctx, "compare", request)
        if not decision.allowed:
            raise self.unit.deny(ctx, "compare", request, decision)
        operation = "compare"
        try:
            targets = self.engine.detect(tgt, keep_chips=True)
        except FaceledgerError as exc:
            self.unit.run(ctx, operation, request, _raise(exc), decision=decision)
        request["target_faces"] = len(targets)
        if len(targets) > 1:
            operation = ONE_TO_MANY_COMPARE
            decision = self.unit.decide(ctx, operation, request)

        def work(decision: Decision) -> tuple[Comparison, dict[str, Any]]:
            thr, _, k = self._limits(decision, threshold, max_results, self.engine.model_id)
            source_face, _ = pick_searched(self.engine.detect(src, keep_chips=True), quality)
            sources = [source_face] if source_face is not None else []
            compared = [t for t in targets if not quality_reasons(t, quality)]
            self.engine.embed_faces(sources + compared)
            if not sources:
                result = Comparison(None, [], thr, self.engine.model_id)
            else:
                result = self.engine.compare_faces(sources[0], compared, threshold=thr)
                best = sorted(
                    range(len(result.matches)), key=lambda i: -result.matches[i].similarity
                )
                kept = [result.matches[i] for i in sorted(best[:k])]
                result = dataclasses.replace(result, matches=kept)
            rows = [
                {"similarity": round(m.similarity, 4), "match": m.match} for m in result.matches
            ]
            return result, {"results": rows, "threshold": thr}

        return self.unit.run(
            ctx, operation, request, work, decision=decision, lead_results=compare_rows
        )

    def detect(self, ctx: RequestContext, image: ImageInput) -> Governed[list[Face]]:
        """Faces in ``image`` (boxes, landmarks, pose, quality; no embeddings kept)."""
        data, digest = image_digest(image)

        def work(_: Decision) -> tuple[list[Face], dict[str, Any]]:
            faces = self.engine.detect(data)
            return faces, {"count": len(faces)}

        return self.unit.run(ctx, "detect", {"image_sha256": digest}, work)


def _search_mode(approximate: bool) -> str:
    return "approximate" if approximate else "exact"


def _cap_matches(searches: list[FaceSearch], k: int) -> None:
    """Keep the ``k`` most similar matches over all searched faces (the cap is per request)."""
    ranked = sorted(
        ((m.similarity, i, j) for i, s in enumerate(searches) for j, m in enumerate(s.matches)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    keep = {(i, j) for _, i, j in ranked[:k]}
    for i, s in enumerate(searches):
        s.matches = [m for j, m in enumerate(s.matches) if (i, j) in keep]


def _raise(exc: BaseException) -> Callable[[Decision], tuple[Any, dict[str, Any]]]:
    def work(_: Decision) -> tuple[Any, dict[str, Any]]:
        raise exc

    return work
