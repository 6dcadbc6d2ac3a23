"""Claims that several server processes make on one data folder (``faceledger serve --workers
N``): a queued video job is claimed by one process only, and a timer's turn (the retention
purge) is taken by one process only. Real processes (fork), each with its own connections."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from faceledger.governance.db import GovernanceDB
from faceledger.governance.schedule import take_turn
from faceledger.store import SQLiteStore
from faceledger.store.video import VideoJob

PROCESSES = 4
JOBS = 40

fork = multiprocessing.get_context("fork")


def _job(i: int) -> VideoJob:
    now = "2026-01-01T00:00:00.000000Z"
    return VideoJob(
        job_id=f"job-{i:03d}", tenant_id="t", principal_id="p", collection_id="c",
        status="queued", progress=0.0, video_sha256="0" * 64, spool=None, params={},
        context={}, decision={}, info=None, result=None, error_code=None, error_message=None,
        lead_id=None, created_at=now, updated_at=now, finished_at=None,
    )  # fmt: skip


def _claim_all(path: Path, start, out) -> None:  # noqa: ANN001
    store = SQLiteStore(path)  # this process's own connection
    start.wait()
    mine = []
    while (job := store.claim_video_job()) is not None:
        mine.append(job.job_id)
    store.close()
    out.put(mine)


def _take(path: Path, start, out) -> None:  # noqa: ANN001
    db = GovernanceDB(path)
    start.wait()
    out.put(take_turn(db, "retention.purge", 3600.0, 1_000_000.0))
    db.close()


def _run(target, path: Path) -> list:  # noqa: ANN001
    start, out = fork.Barrier(PROCESSES), fork.Queue()
    procs = [fork.Process(target=target, args=(path, start, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def test_each_queued_video_job_is_claimed_by_one_process(tmp_path) -> None:
    path = tmp_path / "faceledger.sqlite3"
    store = SQLiteStore(path)
    for i in range(JOBS):
        store.add_video_job(_job(i))
    store.close()
    claimed = [job for mine in _run(_claim_all, path) for job in mine]
    assert sorted(claimed) == [f"job-{i:03d}" for i in range(JOBS)], "each job exactly once"


def test_a_timers_turn_is_taken_by_one_process(tmp_path) -> None:
    path = tmp_path / "governance.sqlite3"
    GovernanceDB(path).close()
    assert sorted(_run(_take, path)) == [False] * (PROCESSES - 1) + [True]
    db = GovernanceDB(path)
    assert not take_turn(db, "retention.purge", 3600.0, 1_000_000.0 + 3000)
    assert take_turn(db, "retention.purge", 3600.0, 1_000_000.0 + 3600)  # the next interval
    assert take_turn(db, "another.task", 3600.0, 1_000_000.0), "turns are per task"


def test_retention_runs_once_per_interval_whatever_the_processes(tmp_path, engine) -> None:
    from faceledger.governance import Principals
    from faceledger.retention_task import RetentionTask
    from faceledger.runtime import Runtime
    from faceledger.settings import Settings

    settings = Settings.resolve(tmp_path)
    with Runtime.open(settings, engine=engine) as one, Runtime.open(settings, engine=engine) as two:
        Principals(one.db).create_org("Lab", "research")
        tasks = [RetentionTask(one, 60.0), RetentionTask(two, 60.0)]
        assert [task.tick() for task in tasks] == [True, False]
        purges = [r for r in one.auditlog.records() if r.body["operation"] == "retention.purge"]
        assert len(purges) == 1 and tasks[1].skipped == 1
