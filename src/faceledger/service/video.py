"""Stored-video face search as asynchronous jobs: a mixin of
:class:`~faceledger.service.faces.FaceService`, like ``service.users``.

- ``video.search`` (:meth:`VideoOperations.start_video_search`): **one governed request for the
  whole job**, an identification operation. The gate decides before anything is decoded; then
  the header is probed (limits), the video spooled (0600, in the data folder) and the job row
  written, in one store transaction with the request's audit record (outcome: the job id).
- the worker (:meth:`VideoOperations.run_video_job`, from ``video.jobs.VideoWorker`` or the
  CLI) runs the decided request: samples, tracks, one search per track under the decision's
  similarity floor and result cap. Its end is a :class:`JobFinished` audit event: committed with
  the job's results (store outbox), or, when the decision requires review, with the lead that
  holds the matches (governance transaction), exactly as an image search's results are held.
  The spooled footage is deleted when the job ends.
- ``video.get``: status, progress and a page of results (the requester only);
  ``video.cancel``: stops a queued or running job.

A job left ``running`` by a stopped process is queued again when a worker starts and continues
from its last checkpoint: at each quiet sample (no face track open) the worker writes, in one
store transaction, the job's progress and the pipeline's state with the tracks finished and
searched so far (``video.search.Checkpoint``). Its results and its ``JobFinished`` record are
still written once, at its end, identical to an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from faceledger import faults
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.errors import FaceledgerError, VideoError
from faceledger.governance.auditlog import serialize_event
from faceledger.governance.clock import iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.events import JobFinished
from faceledger.service.unit import Governed
from faceledger.settings import private_dir
from faceledger.store.base import InvalidRequestError, NotFoundError
from faceledger.store.video import VideoJob
from faceledger.video.intake import DEFAULT_SAMPLE_FPS, Sample, VideoLimits, probe
from faceledger.video.search import Checkpoint, VideoSearchResult, search_video
from faceledger.video.tracks import DEFAULT_MIN_FACE_SIZE

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

log = logging.getLogger("faceledger.video")

SPOOL_DIR = "video-spool"
MAX_PERSONS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class VideoSearchPage:
    """A job as its requester sees it, with one page of its results once it succeeded."""

    job: VideoJob
    persons: list[dict[str, Any]] | None
    next_token: str | None

    def to_dict(self) -> dict[str, Any]:
        out = self.job.summary()
        result = self.job.result or {}
        out["tracks"] = result.get("tracks") if self.job.result is not None else None
        out["threshold"] = result.get("threshold")
        out["persons"] = self.persons
        out["next_token"] = self.next_token
        return out


class _Cancelled(Exception):
    pass


class VideoOperations:
    """Mixed into FaceService: uses its store, engine and unit of work."""

    video_limits: VideoLimits = VideoLimits()

    def _spool_dir(self: FaceService) -> Path:
        base = Path(getattr(self.store, "path", "."))
        return private_dir(base.parent / SPOOL_DIR)

    # ------------------------------------------------------------------------- submission
    def start_video_search(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        video: bytes | str | os.PathLike[str] | BinaryIO,
        *,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_results: int = 10,
        sample_fps: float = DEFAULT_SAMPLE_FPS,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        approximate: bool = False,
    ) -> Governed[VideoJob]:
        """Decide ``video.search`` for the whole footage, then queue the job; returns it
        (status ``queued``). Bad parameters, an unknown collection and a video beyond a limit
        or unreadable are refused here (recorded as the request's error)."""
        digest = _digest(video)
        mode = "approximate" if approximate else "exact"
        request = {
            "collection_id": collection_id,
            "video_sha256": digest,
            "threshold": threshold,
            "max_results": max_results,
            "sample_fps": sample_fps,
            "min_face_size": min_face_size,
            "search_mode": mode,
        }
        job_id = f"vid_{secrets.token_hex(8)}"
        spool = self._spool_dir() / f"{job_id}.video"

        def prepare(decision: Decision) -> dict[str, Any]:
            model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
            self._limits(decision, threshold, max_results, model)  # range checks
            if not 0.1 <= sample_fps <= 30:
                raise InvalidRequestError("sample_fps must be between 0.1 and 30")
            if not 20 <= min_face_size <= 1000:
                raise InvalidRequestError("min_face_size must be between 20 and 1000 pixels")
            fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                if isinstance(video, bytes):
                    out.write(video)
                elif hasattr(video, "read"):
                    video.seek(0)  # type: ignore[union-attr]
                    shutil.copyfileobj(video, out, 1 << 20)  # type: ignore[arg-type]
                else:
                    with open(video, "rb") as src:  # type: ignore[arg-type]
                        shutil.copyfileobj(src, out, 1 << 20)
            if _digest(spool) != digest:
                raise VideoError("the file changed while it was read", code="changed")
            return probe(spool, self.video_limits).to_dict()

        def work(decision: Decision, info: dict[str, Any]) -> tuple[VideoJob, dict[str, Any]]:
            now = iso(utc_now())
            job = VideoJob(
                job_id=job_id, tenant_id=ctx.tenant_id, principal_id=ctx.principal_id,
                collection_id=collection_id, status="queued", progress=0.0,
                video_sha256=digest, spool=spool.name,
                params={k: request[k] for k in ("threshold", "max_results", "sample_fps",
                                                "min_face_size", "search_mode")},
                context=_context_dict(ctx), decision=dataclasses.asdict(decision), info=info,
                result=None, error_code=None, error_message=None, lead_id=None,
                created_at=now, updated_at=now, finished_at=None,
            )  # fmt: skip
            self.store.add_video_job(job)
            return job, {"job_id": job_id, "status": "queued"}

        try:
            return self.unit.run(ctx, "video.search", request, work, prepare=prepare, writes=True)
        except BaseException:
            spool.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------------- reading
    def get_video_search(
        self: FaceService,
        ctx: RequestContext,
        job_id: str,
        *,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Governed[VideoSearchPage]:
        """The job's status and progress; once it succeeded, one page of ``persons`` (sampled
        appearances, by timestamp) and every track. A withheld job names its lead instead."""
        request = {"job_id": job_id, "limit": limit, "next_token": next_token}

        def work(_: Decision) -> tuple[VideoSearchPage, dict[str, Any]]:
            if not 1 <= limit <= MAX_PERSONS_PAGE:
                raise InvalidRequestError(f"limit must be between 1 and {MAX_PERSONS_PAGE}")
            job = self._own_job(ctx, job_id)
            persons, token = None, None
            if job.status == "succeeded" and job.result is not None:
                start = self.store.video_page_offset(ctx.tenant_id, job_id, next_token)
                everyone = job.result.get("persons", [])
                persons = everyone[start : start + limit]
                if start + limit < len(everyone):
                    token = self.store.video_page_token(ctx.tenant_id, job_id, start + limit)
            outcome = {"job_id": job_id, "status": "ok", "count": len(persons or [])}
            return VideoSearchPage(job, persons, token), outcome

        return self.unit.run(ctx, "video.get", request, work)

    def cancel_video_search(
        self: FaceService, ctx: RequestContext, job_id: str
    ) -> Governed[VideoJob]:
        """Cancel a queued or running job (a running one stops at its next sampled frame);
        its spooled footage is deleted. A job that has ended is a conflict."""

        def work(_: Decision) -> tuple[VideoJob, dict[str, Any]]:
            self._own_job(ctx, job_id)
            job = self.store.cancel_video_job(ctx.tenant_id, job_id)
            return job, {"job_id": job_id}

        governed = self.unit.run(ctx, "video.cancel", {"job_id": job_id}, work, writes=True)
        (self._spool_dir() / f"{job_id}.video").unlink(missing_ok=True)
        return governed

    def _own_job(self: FaceService, ctx: RequestContext, job_id: str) -> VideoJob:
        job = self.store.get_video_job(ctx.tenant_id, job_id)
        if job.principal_id != ctx.principal_id:
            raise NotFoundError(f"video search {job_id!r} not found")
        return job

    # ------------------------------------------------------------------------- the worker
    def run_video_job(self: FaceService, job: VideoJob, *, on_progress: Any = None) -> VideoJob:
        """Run a claimed job to its end and record that end (see the module docstring)."""
        ctx, decision = _context(job.context), _decision(job.decision)
        spool = self._spool_dir() / (job.spool or f"{job.job_id}.video")
        params = job.params
        duration = (job.info or {}).get("duration_ms") or 0
        try:
            model = self.store.describe_collection(ctx.tenant_id, job.collection_id).model_id
            thr, max_distance, k = self._limits(
                decision, params["threshold"], params["max_results"], model
            )

            def search(vector: Any) -> list[Any]:
                return self.store.search(
                    ctx.tenant_id, job.collection_id, vector, k=k, max_distance=max_distance,
                    model_id=self.engine.model_id, exact=params["search_mode"] == "exact",
                )  # fmt: skip

            def seen(sample: Sample) -> None:
                done = min(1.0, sample.timestamp_ms / duration) if duration else 0.0
                if self.store.video_job_progress(job.job_id, done) == "cancelled":
                    raise _Cancelled
                if on_progress is not None:
                    on_progress(done)

            def save(checkpoint: Checkpoint) -> None:
                done = min(1.0, checkpoint.timestamp_ms / duration) if duration else 0.0
                state = checkpoint.to_state()
                if self.store.save_video_checkpoint(job.job_id, done, state) == "cancelled":
                    raise _Cancelled
                faults.point("video.checkpointed")

            window = params.get("window_ms")  # footage shared for a time window
            result = search_video(
                self.engine, spool, search, sample_fps=params["sample_fps"],
                min_face_size=params["min_face_size"], limits=self.video_limits, on_sample=seen,
                window_ms=tuple(window) if window else None, on_checkpoint=save,
                resume=self._checkpoint(ctx, job),
            )  # fmt: skip
            result.cap(k)
        except _Cancelled:
            return self._end(ctx, decision, job, "cancelled", spool)
        except FaceledgerError as exc:
            return self._end(ctx, decision, job, "failed", spool, error=(exc.code, str(exc)))
        except Exception as exc:  # noqa: BLE001 - the job ends, the worker keeps serving
            return self._end(ctx, decision, job, "failed", spool,
                             error=("internal", type(exc).__name__))  # fmt: skip
        body = {"threshold": thr, "max_results": k, "model_id": model,
                "search_mode": params["search_mode"]}  # fmt: skip
        return self._end(ctx, decision, job, "succeeded", spool, result=result, body=body)

    def _checkpoint(self: FaceService, ctx: RequestContext, job: VideoJob) -> Checkpoint | None:
        """The job's last checkpoint with its matched faces read again from the store."""
        if not job.checkpoint:
            return None
        ids, faces = Checkpoint.face_ids(job.checkpoint), {}
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            page = self.store.list_faces(ctx.tenant_id, job.collection_id, face_ids=chunk,
                                         limit=len(chunk))  # fmt: skip
            faces.update({f.face_id: f for f in page.items})
        checkpoint = Checkpoint.from_state(job.checkpoint, faces)
        log.info("video job %s continues after %d ms (%d tracks done)", job.job_id,
                 checkpoint.timestamp_ms, len(checkpoint.tracks))  # fmt: skip
        return checkpoint

    def _end(
        self: FaceService,
        ctx: RequestContext,
        decision: Decision,
        job: VideoJob,
        status: str,
        spool: Path,
        *,
        result: VideoSearchResult | None = None,
        body: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> VideoJob:
        operation = job.params.get("operation", "video.search")
        outcome: dict[str, Any] = {"job_id": job.job_id, "status": status}
        if error is not None:
            outcome.update(error=error[0], message=error[1])
        stored: dict[str, Any] | None = None
        lead_id = None
        if result is not None:
            rows = result.rows()
            outcome.update(results=rows, tracks=len(result.tracks), samples=result.samples)
            if decision.review_required:
                status = outcome["status"] = "withheld"
                # the lead's id is recorded with the job before the lead opens: a rerun after
                # a crash between the two finds it and opens no second lead
                lead_id = outcome["lead_id"] = job.lead_id or f"lead_{secrets.token_hex(8)}"
                if job.lead_id is None:
                    self.store.set_video_job_lead(job.job_id, lead_id)
                withhold = self.gate.withhold  # type: ignore[attr-defined]
                reviews = self.gate.reviews  # type: ignore[attr-defined]
                with self.gate.transaction():  # type: ignore[attr-defined]
                    if not reviews.exists(lead_id):
                        withhold(ctx, operation, decision, rows, lead_id=lead_id)
                        self.gate.auditlog.append(  # type: ignore[attr-defined]
                            JobFinished(
                                operation="video.search",
                                ctx=ctx,
                                decision=decision,
                                job_id=job.job_id,
                                outcome=outcome,
                            )  # fmt: skip
                        )
                faults.point("video.lead_opened")
                stored = {**(body or {}), **result.to_dict(matches=False)}
                ended = self.store.finish_video_job(
                    job.job_id, status, result=stored, lead_id=lead_id
                )
                spool.unlink(missing_ok=True)
                return ended
            stored = {**(body or {}), **result.to_dict()}
        event_id = uuid.uuid4().hex
        with self.store.transaction():
            if status == "cancelled":
                ended = self.store.get_video_job(job.tenant_id, job.job_id)
            else:
                ended = self.store.finish_video_job(
                    job.job_id, status, result=stored, error=error, lead_id=lead_id
                )
            event = JobFinished(operation=operation, ctx=ctx, decision=decision,
                                job_id=job.job_id, outcome=outcome, event_id=event_id)  # fmt: skip
            self.store.stage_event(event_id, serialize_event(event))
        with contextlib.suppress(Exception):  # committed and staged: the next flush appends it
            self.unit.flush()
        spool.unlink(missing_ok=True)
        return ended


def _digest(source: bytes | str | os.PathLike[str] | BinaryIO) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    if hasattr(source, "read"):
        h = hashlib.sha256()
        source.seek(0)  # type: ignore[union-attr]
        for block in iter(lambda: source.read(1 << 20), b""):  # type: ignore[union-attr]
            h.update(block)
        return h.hexdigest()
    path = Path(source)  # type: ignore[arg-type]
    if not path.is_file():
        raise VideoError(f"no such file: {path}", code="file_not_found")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _context_dict(ctx: RequestContext) -> dict[str, Any]:
    return {
        "principal_id": ctx.principal_id,
        "tenant_id": ctx.tenant_id,
        "actor_class": ctx.actor_class,
        "roles": sorted(ctx.roles),
        "purpose": ctx.purpose,
        "case_ref": ctx.case_ref,
        "authorization_ref": ctx.authorization_ref,
        "authorization_date": ctx.authorization_date.isoformat()
        if ctx.authorization_date
        else None,
        "request_id": ctx.request_id,
    }


def _context(data: dict[str, Any]) -> RequestContext:
    auth = data.get("authorization_date")
    return RequestContext(
        principal_id=data["principal_id"], tenant_id=data["tenant_id"],
        actor_class=data["actor_class"], roles=frozenset(data["roles"]),
        purpose=data.get("purpose"), case_ref=data.get("case_ref"),
        authorization_ref=data.get("authorization_ref"),
        authorization_date=date.fromisoformat(auth) if auth else None,
        request_id=data["request_id"],
    )  # fmt: skip


def _decision(data: dict[str, Any]) -> Decision:
    return Decision(**data)
