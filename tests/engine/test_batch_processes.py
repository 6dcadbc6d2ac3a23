"""Worker processes of a bulk run die with their parent: `kill -9 faceledger index` leaves nothing.

Each worker holds the ends of the pool's pipes that its siblings inherited, so none of them ever
sees end-of-file when the parent dies; without a lifeline they wait on the pipe forever, holding
their models (~220 MB each).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.cli.recognition import _detect_task
from faceledger.engine.batch import process_images

GONE_WITHIN_S = 5.0


def _children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of ``pid``, from /proc/<n>/stat."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its reaper is missing


def test_sigkill_of_faceledger_index_takes_its_workers_with_it(
    tmp_path: Path, portraits: list[Path]
) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    for args in (["admin", "init"], ["collection", "create", "people"]):
        result = runner.invoke(app, [*args, "--data-dir", str(home)])
        assert result.exit_code == 0, (result.stdout, result.stderr)
    images = [str(p) for p in portraits] * 40  # enough work to still be running at the kill
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "index", "people", *images, "--json",
         "--workers", "2", "--no-resume", "--consent", "test", "--data-dir", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # only so that the cleanup below can reach any survivor
    )  # fmt: skip
    workers: list[int] = []
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout=90)  # a result came back: the workers are up and working
        assert first_line and first_line[0], proc.stderr.read() if proc.poll() else "no output"
        workers = _children(proc.pid)
        assert len(workers) >= 2, f"expected two worker processes, found {workers}"
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as `kill -9 <pid>` does
        proc.wait(timeout=10)
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
        assert not survivors, f"workers {survivors} outlived their parent by {GONE_WITHIN_S} s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_pool_started_from_a_thread_that_ends_keeps_its_workers(portraits: list[Path]) -> None:
    """The kernel's parent-death signal follows the forking *thread*: it must not be armed when
    that thread may end before the pool (a generator started in one thread, drained in another)."""
    paths = [str(p) for p in portraits] * 4
    results = process_images(paths, _detect_task, workers=2, progress=False, chunksize=1)
    first: list[tuple[str, object]] = []
    starter = threading.Thread(target=lambda: first.append(next(results)))
    starter.start()
    starter.join(timeout=90)
    assert first, "the pool started"
    rest = list(results)  # the starting thread has ended; the workers must still be there
    assert [p for p, _ in first + rest] == paths
    assert all(isinstance(r, list) and len(r) == 1 for _, r in first + rest)


GARBAGE_SESSION = """
import gc, sys
from faceledger import Engine
from faceledger.engine.batch import process_images

class Holder:
    pass

def collect_then_count(engine, path):
    gc.collect()  # what a long run's collector does sooner or later
    return len(engine.detect(path))

def drop_in_a_cycle():
    holder = Holder()
    holder.engine = Engine()
    holder.engine.model_id  # its onnxruntime session exists, with its threads
    holder.me = holder  # only the garbage collector can free it
    gc.collect()  # still referenced here: moved to the oldest generation

if __name__ == "__main__":
    drop_in_a_cycle()
    gc.disable()  # nothing collects it before the workers are forked
    out = list(process_images(sys.argv[1:], collect_then_count, workers=2, progress=False))
    print(sum(n for _, n in out))
"""


def test_workers_do_not_hang_on_the_parents_garbage(portraits: list[Path]) -> None:
    """A worker's garbage collector freeing an inherited onnxruntime session waits forever for
    the session's threads, which were not forked."""
    images = [str(p) for p in portraits] * 2
    proc = subprocess.Popen(
        [sys.executable, "-c", GARBAGE_SESSION, *images],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        out, err = "", "timed out: the workers hang"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == 0 and out.split() == [str(len(images))], err
