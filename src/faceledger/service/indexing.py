"""Enrolment: index the faces of an image, or of a folder of images in worker processes or on a
Ray cluster (an ``ImageExecutor``), each image one governed request (a mixin of
:class:`~faceledger.service.faces.FaceService`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from faceledger import validation
from faceledger.engine.batch import ImageExecutor, LocalProcesses
from faceledger.engine.core import Engine
from faceledger.engine.types import Face
from faceledger.errors import FaceledgerError, ImageError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.error_rates import AGE_BANDS
from faceledger.images import ImageInput, image_size
from faceledger.service.crops import crop_jpeg
from faceledger.service.intake import image_digest
from faceledger.service.limits import DEFAULT_MAX_FACES
from faceledger.service.quality import (
    QualityFilter,
    quality_reasons,
)
from faceledger.service.results import (
    IndexResult,
    UnindexedFace,
)
from faceledger.service.unit import Governed
from faceledger.store.base import (
    ImageRecord,
    InvalidRequestError,
)


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
    engine: Engine, image: str | bytes, *, max_faces: int, quality_filter: str
) -> tuple[str, list[Face], list[UnindexedFace], tuple[int, int], list[bytes | None]]:
    """Worker task for bulk indexing (a file's path, or its bytes read by the driver): SHA-256
    of the image, its selected, embedded faces, the image's size and the faces' crops."""
    data, digest = image_digest(image)
    keep, unindexed, crops = embed_selected(engine, data, max_faces, quality_filter)
    return digest, keep, unindexed, image_size(data), crops


class IndexingOperations:
    """The enrolment half of :class:`~faceledger.service.faces.FaceService`."""

    def _index_request(
        self, collection_id: str, digest: str | None, external_image_id: str | None,
        max_faces: int, quality_filter: QualityFilter | str, consent: str | None = None,
        age_band: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        if not 1 <= max_faces <= DEFAULT_MAX_FACES:
            raise InvalidRequestError(f"max_faces must be between 1 and {DEFAULT_MAX_FACES}")
        if age_band is not None and age_band not in AGE_BANDS:
            raise InvalidRequestError(
                f"age_band must be one of {', '.join(AGE_BANDS)} (declared by the operator)"
            )
        return {
            "collection_id": collection_id,
            "image_sha256": digest,
            "external_image_id": validation.clean_text(
                external_image_id, "external_image_id", validation.MAX_EXTERNAL_ID
            ),
            "max_faces": max_faces,
            "quality_filter": str(QualityFilter(quality_filter)),
            "consent": validation.clean_text(consent, "consent", validation.MAX_REFERENCE),
            "age_band": age_band,
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
            age_band=request.get("age_band"),
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
        age_band: str | None = None,
    ) -> Governed[IndexResult]:
        """Detect the faces of ``image``, store those that pass the quality filter (at most
        ``max_faces``, largest first; only those are embedded) and return them, with the others
        and why. The faces and their audit record are committed before this returns.
        ``skip_indexed``: an image already in the collection (same SHA-256) is not indexed
        again (``skipped=True``). ``consent``: a reference to the recorded consent of the
        person whose face this is (policies can require it). ``age_band``: the age band the
        operator declares for the person (never inferred), kept with the face: a search by that
        face must declare the same band, so that the policy's rules for children apply."""
        data, digest = image_digest(image)
        request = self._index_request(
            collection_id, digest, external_image_id, max_faces, quality_filter, consent, age_band
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
        executor: ImageExecutor | None = None,
        age_band: str | None = None,
    ) -> Iterator[tuple[str, Governed[IndexResult] | IndexResult | FaceledgerError]]:
        """Index many image files on all cores; yields each image's result once committed.

        Each image is one request, decided before its pixels are decoded and recorded on its
        own. A policy denial stops the run (every image of it declares the same: the first
        denial is yielded and nothing further is done). ``resume``: images whose SHA-256 is
        already recorded in the collection are skipped (yielded as a bare ``IndexResult``
        with ``skipped``), so an interrupted run picks up where it stopped. Embedding runs in
        worker processes (only the faces that will be kept); this process is the only writer,
        committing in input order. ``executor``: where decoding and embedding run (default:
        ``LocalProcesses(workers)``; ``engine.ray_batch.RayExecutor`` for a Ray cluster).
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
                collection_id, digest, name_of(Path(path)), max_faces, quality, consent, age_band
            )
            decision = self.unit.decide(ctx, "faces.index", request)
            if not decision.allowed:
                yield path, self.unit.deny(ctx, "faces.index", request, decision)
                return
            planned[path] = (request, decision)
        task = partial(_embed_file, max_faces=max_faces, quality_filter=quality)
        runner = executor or LocalProcesses(workers)
        for path, embedded in runner.map(
            list(planned), task, config=self.engine.config, progress=progress, desc="indexing"
        ):
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
