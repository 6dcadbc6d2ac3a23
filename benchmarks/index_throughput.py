"""Bulk indexing throughput: images/s of the governed bulk path with 1 process, 2 local processes
and Ray with 2 local workers, on the same N Congress portraits in the same run.

    pip install 'faceledger[ray]'
    python benchmarks/index_throughput.py [--data DIR] [-n 120]

Each setup indexes the same files into a fresh data folder through ``FaceService.index_images``,
as ``faceledger index`` does: every image decided, decoded, detected, embedded, committed and
recorded in the audit log as one request; only the executor changes (``LocalProcesses(1)``, the
baseline, as ``--workers 1``; ``LocalProcesses(2)``; ``RayExecutor(num_cpus=2)``). Timed from the
first decision to the last record, including the workers' model loading (every setup pays it);
the Ray cluster's start is measured and shown apart. The 1-process engine is the CLI's own
(onnxruntime may use more than one thread); workers use one thread each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from faceledger.cli.principal import DECLARED, open_service
from faceledger.datasets import require_dataset
from faceledger.engine.batch import ImageExecutor, LocalProcesses
from faceledger.errors import FaceledgerError
from faceledger.service.unit import Governed

BASELINE = "1 process"


def fresh_folder(root: Path, name: str) -> Path:
    """A data folder with its CLI key and an empty collection 'people'."""
    data = root / name
    for args in (("admin", "init"), ("collection", "create", "people")):
        subprocess.run(
            [sys.executable, "-m", "faceledger", *args, "--data-dir", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
    return data


def index_all(data: Path, paths: list[Path], executor: ImageExecutor) -> tuple[float, int]:
    """Seconds to index every path, and the faces indexed; any failed image stops the run."""
    with open_service(data, DECLARED) as (svc, ctx):
        start = time.perf_counter()
        faces = 0
        for path, result in svc.index_images(
            ctx, "people", paths, executor=executor, progress=False, consent="benchmark"
        ):
            if isinstance(result, FaceledgerError):
                raise SystemExit(f"{path}: {result}")
            if isinstance(result, Governed):
                result = result.result
            if result.skipped:
                raise SystemExit(f"{path} was skipped: the folder was not fresh")
            faces += len(result.face_records)
        return time.perf_counter() - start, faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="the shared datasets (default: $FACELEDGER_DATA)")
    parser.add_argument("-n", type=int, default=120, help="portraits to index")
    args = parser.parse_args()
    congress = require_dataset("congress_current", args.data)
    paths = sorted((congress / "images").glob("*.jpg"))[: args.n]
    if len(paths) < args.n:
        raise SystemExit(f"only {len(paths)} portraits under {congress / 'images'}")
    try:
        from faceledger.engine.ray_batch import RayExecutor
    except ImportError:
        raise SystemExit("pip install 'faceledger[ray]'") from None

    rows: list[tuple[str, float, int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("RAY_TMPDIR", str(root))
        setups: list[tuple[str, Callable[[], ImageExecutor]]] = [
            (BASELINE, lambda: LocalProcesses(1)),
            ("2 local processes", lambda: LocalProcesses(2)),
        ]
        for name, make in setups:
            seconds, faces = index_all(fresh_folder(root, name.replace(" ", "-")), paths, make())
            rows.append((name, seconds, faces, ""))
        with RayExecutor(num_cpus=2) as ray:
            start = time.perf_counter()
            ray.connect()
            started = time.perf_counter() - start
            seconds, faces = index_all(fresh_folder(root, "ray"), paths, ray)
            rows.append(("Ray, 2 local workers", seconds, faces, f"cluster start {started:.1f} s"))

    base = len(paths) / rows[0][1]
    print(f"bulk indexing of {len(paths)} Congress portraits ({os.cpu_count()} CPUs)")
    print(f"{'setup':22} {'faces':>5} {'seconds':>8} {'images/s':>9} {'vs baseline':>12}  note")
    for name, seconds, faces, note in rows:
        ips = len(paths) / seconds
        note = "baseline" if name == BASELINE else note
        print(f"{name:22} {faces:5d} {seconds:8.1f} {ips:9.2f} {ips / base:11.2f}×  {note}")


if __name__ == "__main__":
    main()
