"""1:N face search, by a stored face or by the faces of an image (a mixin of
:class:`~faceledger.service.faces.FaceService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceledger.engine.similarity import (
    DEFAULT_SEARCH_THRESHOLD,
)
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.images import ImageInput
from faceledger.service.crops import crops_of, lead_extras
from faceledger.service.error_rates import check_enrolled_band, gallery_rates, logged_rates
from faceledger.service.intake import image_digest
from faceledger.service.limits import DEFAULT_MAX_RESULTS
from faceledger.service.quality import (
    QualityFilter,
    pick_searched,
    quality_reasons,
)
from faceledger.service.results import (
    FaceSearch,
    SearchResult,
    UnindexedFace,
    search_rows,
)
from faceledger.service.unit import Governed
from faceledger.store.base import (
    NotFoundError,
)

if TYPE_CHECKING:
    pass


class SearchOperations:
    """The search half of :class:`~faceledger.service.faces.FaceService`."""

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
            check_enrolled_band(record, request)
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
