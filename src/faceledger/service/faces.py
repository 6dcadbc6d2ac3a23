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
from collections.abc import Callable, Sequence
from typing import Any

from faceledger.engine.core import Engine
from faceledger.engine.similarity import (
    DEFAULT_THRESHOLD,
    distance_from_similarity,
)
from faceledger.engine.types import Comparison, Face
from faceledger.errors import FaceledgerError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.images import ImageInput
from faceledger.service.crops import CropOperations
from faceledger.service.error_rates import probe_rates
from faceledger.service.evaluation import EvaluationOperations
from faceledger.service.footage import FootageOperations
from faceledger.service.footage_lists import FootageLists
from faceledger.service.gate import Gate
from faceledger.service.indexing import IndexingOperations, select_faces
from faceledger.service.intake import image_digest
from faceledger.service.lifecycle import LifecycleOperations
from faceledger.service.limits import (
    DEFAULT_MAX_FACES,
    MAX_RESULTS,
    MAX_RETENTION_DAYS,
    ONE_TO_MANY_COMPARE,
)
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
)
from faceledger.service.search import SearchOperations
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


class FaceService(
    IndexingOperations,
    SearchOperations,
    UserOperations,
    LifecycleOperations,
    ReportOperations,
    EvaluationOperations,
    CropOperations,
    VideoOperations,
    FootageOperations,
    FootageLists,
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


def _raise(exc: BaseException) -> Callable[[Decision], tuple[Any, dict[str, Any]]]:
    def work(_: Decision) -> tuple[Any, dict[str, Any]]:
        raise exc

    return work
