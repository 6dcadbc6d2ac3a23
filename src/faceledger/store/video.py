"""Video search jobs as the store keeps them: one row per job, from submission to its end.

A job is an asynchronous, already-decided request (``service.video``): the row keeps what the
worker needs to run it after a restart (the request's context and decision, its parameters, the
spooled video's file name) and, once done, its tracks and matches (or the id of the lead that
holds them for review, or the error). Every write joins the caller's
:meth:`FaceStore.transaction`, so a job's end and its audit event commit together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

JOB_STATES = ("queued", "running", "succeeded", "withheld", "failed", "cancelled")
FINAL_STATES = ("succeeded", "withheld", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class VideoJob:
    job_id: str
    tenant_id: str
    principal_id: str
    collection_id: str
    status: str
    progress: float
    """0 to 1: the share of the footage's duration processed."""
    video_sha256: str
    spool: str | None
    """File name of the video in the data folder's spool, until the job ends."""
    params: dict[str, Any]
    context: dict[str, Any]
    decision: dict[str, Any]
    info: dict[str, Any] | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    lead_id: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    checkpoint: dict[str, Any] | None = None
    """While it runs: the pipeline's state at its last quiet sample (``video.search``'s
    ``Checkpoint``), with the tracks finished so far; a restarted job continues from it."""

    def summary(self) -> dict[str, Any]:
        """What the requester sees of the job (never its context's internals or the spool)."""
        return {
            "job_id": self.job_id,
            "collection_id": self.collection_id,
            "status": self.status,
            "progress": round(self.progress, 4),
            "video_sha256": self.video_sha256,
            "sample_fps": self.params.get("sample_fps"),
            "video": self.info,
            "error": None
            if self.error_code is None
            else {"code": self.error_code, "message": self.error_message},
            "lead_id": self.lead_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
        }


class VideoJobStore(ABC):
    """The video-job part of a store (implemented by ``SQLiteStore``)."""

    @abstractmethod
    def add_video_job(self, job: VideoJob) -> VideoJob: ...

    @abstractmethod
    def get_video_job(self, tenant_id: str, job_id: str) -> VideoJob:
        """NotFoundError when the id is not one of the tenant's jobs."""

    @abstractmethod
    def video_jobs(self, tenant_id: str, principal_id: str) -> list[VideoJob]:
        """The jobs one account submitted, oldest first."""

    @abstractmethod
    def claim_video_job(self, job_id: str | None = None) -> VideoJob | None:
        """The oldest queued job (or this one, if queued), now ``running``; None when there
        is none. Atomic across processes: two callers never get the same job (SQLite: one
        ``BEGIN IMMEDIATE`` transaction; a server database: ``FOR UPDATE SKIP LOCKED`` or a
        conditional ``UPDATE ... WHERE status = 'queued'``)."""

    @abstractmethod
    def set_video_job_lead(self, job_id: str, lead_id: str) -> None:
        """Record the id of the review lead the job is about to open."""

    @abstractmethod
    def requeue_video_jobs(self) -> list[str]:
        """Put jobs left ``running`` (by a process that stopped) back in the queue, with
        their checkpoint and its progress. Called once when a server starts, before its
        processes do: never while another process may be running a job."""

    @abstractmethod
    def video_job_progress(self, job_id: str, progress: float) -> str:
        """Record progress; returns the job's status (``cancelled`` tells the worker to stop)."""

    @abstractmethod
    def save_video_checkpoint(
        self, job_id: str, progress: float, checkpoint: dict[str, Any]
    ) -> str:
        """Record a running job's progress and checkpoint in one transaction; returns its
        status as :meth:`video_job_progress` does. Cleared when the job ends."""

    @abstractmethod
    def finish_video_job(
        self,
        job_id: str,
        status: str,
        *,
        info: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        lead_id: str | None = None,
    ) -> VideoJob: ...

    @abstractmethod
    def cancel_video_job(self, tenant_id: str, job_id: str) -> VideoJob:
        """ConflictError when the job has ended already."""

    @abstractmethod
    def redact_video_jobs(self, tenant_id: str, face_ids: set[str], user_ids: set[str]) -> int:
        """Remove from the organization's jobs (their results and the checkpoints of running
        ones) every match naming one of these faces or users (a subject's erasure); returns
        how many jobs changed."""

    @abstractmethod
    def video_page_token(self, tenant_id: str, job_id: str, offset: int) -> str: ...

    @abstractmethod
    def video_page_offset(self, tenant_id: str, job_id: str, token: str | None) -> int: ...
