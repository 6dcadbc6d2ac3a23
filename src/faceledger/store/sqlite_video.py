"""The ``video_jobs`` table of the SQLite store, as a mixin of ``SQLiteStore`` (added by
:func:`migrate`: one new table, so older files keep working)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faceledger.store.base import ConflictError, NotFoundError
from faceledger.store.video import FINAL_STATES, VideoJob, VideoJobStore

if TYPE_CHECKING:
    from faceledger.sql.ddl import DDL
    from faceledger.store.sqlite import SQLiteStore

VIDEO_SCHEMA = """
CREATE TABLE IF NOT EXISTS video_jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    principal_id  TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN
                  ('queued', 'running', 'succeeded', 'withheld', 'failed', 'cancelled')),
    progress      REAL NOT NULL DEFAULT 0,
    video_sha256  TEXT NOT NULL,
    spool         TEXT,
    params        TEXT NOT NULL,
    context       TEXT NOT NULL,
    decision      TEXT NOT NULL,
    info          TEXT,
    result        TEXT,
    error_code    TEXT,
    error_message TEXT,
    lead_id       TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    checkpoint    TEXT
);
CREATE INDEX IF NOT EXISTS video_jobs_by_status ON video_jobs (status, seq)
"""
_COLUMNS = (
    "job_id, tenant_id, principal_id, collection_id, status, progress, video_sha256, spool,"
    " params, context, decision, info, result, error_code, error_message, lead_id, created_at,"
    " updated_at, finished_at, checkpoint"
)


def migrate(ddl: DDL) -> None:
    """Create what is missing (in the baseline migration); idempotent."""
    ddl.run(VIDEO_SCHEMA)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _job(row: Any) -> VideoJob:
    return VideoJob(
        job_id=row[0], tenant_id=row[1], principal_id=row[2], collection_id=row[3],
        status=row[4], progress=row[5], video_sha256=row[6], spool=row[7],
        params=json.loads(row[8]), context=json.loads(row[9]), decision=json.loads(row[10]),
        info=_loads(row[11]), result=_loads(row[12]), error_code=row[13], error_message=row[14],
        lead_id=row[15], created_at=row[16], updated_at=row[17], finished_at=row[18],
        checkpoint=_loads(row[19]),
    )  # fmt: skip


class SQLiteVideoJobs(VideoJobStore):
    """Mixed into ``SQLiteStore``: uses its connection, lock and transactions."""

    def add_video_job(self: SQLiteStore, job: VideoJob) -> VideoJob:
        with self._write() as c:
            c.execute(
                f"INSERT INTO video_jobs ({_COLUMNS}) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.job_id, job.tenant_id, job.principal_id, job.collection_id, job.status,
                    job.progress, job.video_sha256, job.spool, json.dumps(job.params),
                    json.dumps(job.context), json.dumps(job.decision),
                    None if job.info is None else json.dumps(job.info),
                    None if job.result is None else json.dumps(job.result), job.error_code,
                    job.error_message, job.lead_id, job.created_at, job.updated_at,
                    job.finished_at,
                    None if job.checkpoint is None else json.dumps(job.checkpoint),
                ),
            )  # fmt: skip
        return job

    def _load_job(self: SQLiteStore, c: sqlite3.Connection, job_id: str) -> VideoJob | None:
        row = c.execute(f"SELECT {_COLUMNS} FROM video_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def get_video_job(self: SQLiteStore, tenant_id: str, job_id: str) -> VideoJob:
        with self._read() as c:
            job = self._load_job(c, job_id)
        if job is None or job.tenant_id != tenant_id:
            raise NotFoundError(f"video search {job_id!r} not found")
        return job

    def video_jobs(self: SQLiteStore, tenant_id: str, principal_id: str) -> list[VideoJob]:
        with self._read() as c:
            rows = c.execute(
                f"SELECT {_COLUMNS} FROM video_jobs WHERE tenant_id = ? AND principal_id = ?"
                " ORDER BY seq",
                (tenant_id, principal_id),
            ).fetchall()
        return [_job(row) for row in rows]

    def claim_video_job(self: SQLiteStore, job_id: str | None = None) -> VideoJob | None:
        with self._write() as c:
            sql = "SELECT job_id FROM video_jobs WHERE status = 'queued'"
            args: tuple[str, ...] = ()
            if job_id is not None:
                sql, args = sql + " AND job_id = ?", (job_id,)
            row = c.execute(sql + " ORDER BY seq LIMIT 1", args).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE video_jobs SET status = 'running', updated_at = ?,"
                " progress = CASE WHEN checkpoint IS NULL THEN 0 ELSE progress END"
                " WHERE job_id = ?",
                (_now(), row[0]),
            )
            return self._load_job(c, row[0])

    def set_video_job_lead(self: SQLiteStore, job_id: str, lead_id: str) -> None:
        """Record the id of the lead a job is about to open (see ``service.video``)."""
        with self._write() as c:
            c.execute("UPDATE video_jobs SET lead_id = ?, updated_at = ? WHERE job_id = ?",
                      (lead_id, _now(), job_id))  # fmt: skip

    def requeue_video_jobs(self: SQLiteStore) -> list[str]:
        with self._write() as c:
            ids = [
                r[0] for r in c.execute("SELECT job_id FROM video_jobs WHERE status = 'running'")
            ]
            c.execute(
                "UPDATE video_jobs SET status = 'queued', updated_at = ?,"
                " progress = CASE WHEN checkpoint IS NULL THEN 0 ELSE progress END"
                " WHERE status = 'running'",
                (_now(),),
            )
        return ids

    def video_job_progress(self: SQLiteStore, job_id: str, progress: float) -> str:
        with self._write() as c:
            c.execute(
                "UPDATE video_jobs SET progress = ?, updated_at = ? "
                "WHERE job_id = ? AND status = 'running'",
                (max(0.0, min(1.0, progress)), _now(), job_id),
            )
            row = c.execute("SELECT status FROM video_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else "cancelled"

    def save_video_checkpoint(
        self: SQLiteStore, job_id: str, progress: float, checkpoint: dict[str, Any]
    ) -> str:
        with self._write() as c:
            c.execute(
                "UPDATE video_jobs SET progress = ?, checkpoint = ?, updated_at = ? "
                "WHERE job_id = ? AND status = 'running'",
                (max(0.0, min(1.0, progress)), json.dumps(checkpoint), _now(), job_id),
            )
            row = c.execute("SELECT status FROM video_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else "cancelled"

    def finish_video_job(
        self: SQLiteStore,
        job_id: str,
        status: str,
        *,
        info: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        lead_id: str | None = None,
    ) -> VideoJob:
        if status not in FINAL_STATES:
            raise ValueError(f"a job ends as one of {FINAL_STATES}")
        now = _now()
        with self._write() as c:
            c.execute(
                "UPDATE video_jobs SET status = ?, progress = CASE WHEN ? = 'succeeded' OR "
                "? = 'withheld' THEN 1 ELSE progress END, info = coalesce(?, info), result = ?,"
                " error_code = ?, error_message = ?, lead_id = ?, spool = NULL, checkpoint = NULL,"
                " updated_at = ?, finished_at = ? WHERE job_id = ?",
                (
                    status, status, status, None if info is None else json.dumps(info),
                    None if result is None else json.dumps(result),
                    error[0] if error else None, error[1] if error else None, lead_id,
                    now, now, job_id,
                ),
            )  # fmt: skip
            job = self._load_job(c, job_id)
        if job is None:
            raise NotFoundError(f"video search {job_id!r} not found")
        return job

    def cancel_video_job(self: SQLiteStore, tenant_id: str, job_id: str) -> VideoJob:
        with self._write() as c:
            job = self._load_job(c, job_id)
            if job is None or job.tenant_id != tenant_id:
                raise NotFoundError(f"video search {job_id!r} not found")
            if job.status in FINAL_STATES:
                raise ConflictError(f"video search {job_id!r} has ended already ({job.status})")
            now = _now()
            c.execute(
                "UPDATE video_jobs SET status = 'cancelled', spool = NULL, checkpoint = NULL,"
                " updated_at = ?,"
                " finished_at = ? WHERE job_id = ?",
                (now, now, job_id),
            )
            return self._load_job(c, job_id)  # type: ignore[return-value]

    def redact_video_jobs(
        self: SQLiteStore, tenant_id: str, face_ids: set[str], user_ids: set[str]
    ) -> int:
        def named(match: dict[str, Any]) -> bool:
            face = match.get("face", match)
            return face.get("face_id") in face_ids or face.get("user_id") in user_ids

        changed = 0
        with self._write() as c:
            for column in ("result", "checkpoint"):
                rows = c.execute(
                    f"SELECT job_id, {column} FROM video_jobs"
                    f" WHERE tenant_id = ? AND {column} IS NOT NULL",
                    (tenant_id,),
                ).fetchall()
                for job_id, text in rows:
                    result = json.loads(text)
                    before = json.dumps(result, sort_keys=True)
                    for item in result.get("tracks", []) + result.get("persons", []):
                        if "matches" in item:
                            item["matches"] = [m for m in item["matches"] if not named(m)]
                    if json.dumps(result, sort_keys=True) != before:
                        c.execute(
                            f"UPDATE video_jobs SET {column} = ? WHERE job_id = ?",
                            (json.dumps(result), job_id),
                        )
                        changed += 1
        return changed

    def video_page_token(self: SQLiteStore, tenant_id: str, job_id: str, offset: int) -> str:
        return self._tokens.encode(("video-results", tenant_id, job_id), offset)

    def video_page_offset(self: SQLiteStore, tenant_id: str, job_id: str, token: str | None) -> int:
        value = self._tokens.decode(("video-results", tenant_id, job_id), token, int)
        return int(value or 0)
