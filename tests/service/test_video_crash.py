"""A video search held for review survives a crash between opening its lead and marking the
job: the rerun finds the lead recorded with the job and opens no second one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("av")

from faceledger.runtime import Runtime  # noqa: E402
from faceledger.settings import Settings  # noqa: E402
from faceledger.video.jobs import VideoWorker  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip  # noqa: E402


def cli(data_dir: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FACELEDGER_FAULT"}
    if fault:
        env["FACELEDGER_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def test_a_job_rerun_after_a_crash_opens_no_second_lead(tmp_path: Path) -> None:
    case = ("--purpose", "missing-person", "--case-ref", "MP-1", "--authorization-ref", "W-1",
            "--authorization-date", date.today().isoformat())  # fmt: skip
    assert cli(tmp_path, "admin", "init", "--actor-class", "law-enforcement").returncode == 0
    assert cli(tmp_path, "collection", "create", "people").returncode == 0
    r = cli(tmp_path, "index", "people", str(PORTRAITS[0]), "--workers", "1", *case)
    assert r.returncode == 0, r.stderr
    footage = clip(tmp_path / "door.mp4", [Appearance(PORTRAITS[0], 0.5, 1.5, speed=0)],
                   seconds=2, size=(400, 300))  # fmt: skip
    crashed = cli(tmp_path, "video", "search", "people", str(footage), *case,
                  "--min-face-size", "80", fault="video.lead_opened")  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr

    with Runtime.open(Settings.resolve(tmp_path)) as runtime:
        leads = "SELECT id FROM leads WHERE operation = 'video.search'"
        with runtime.db.transaction() as conn:
            (opened,) = [row[0] for row in conn.execute(leads)]
        worker = VideoWorker(runtime.faces)
        (job_id,) = runtime.store.requeue_video_jobs()  # the crashed job was left running
        assert worker.run_pending() == 1
        with runtime.db.transaction() as conn:
            assert [row[0] for row in conn.execute(leads)] == [opened], "no second lead"
        with runtime.store._read() as c:
            job = runtime.store._load_job(c, job_id)
        assert job is not None and job.status == "withheld" and job.lead_id == opened
        ops = [r.body["operation"] for r in runtime.auditlog.records()]
    assert ops.count("review.open") == 1
