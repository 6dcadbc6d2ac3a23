"""Requests per second of ``faceledger serve`` with 1, 2 and 4 server processes (``--workers``).

    python benchmarks/serve_workers.py [--workers 1 2 4] [--clients 8] [--seconds 20]
                                       [--faces 50] [--data DIR] [--database-url URL]

One data folder (a temporary one) holding a collection of ``--faces`` Congress portraits
(public domain: ``congress_current`` of the data root, else the six in tests/fixtures, indexed
several times), served in turn with each number of processes on the same machine in the same
run. ``--clients`` threads send, for ``--seconds``, a mix of two governed requests on small
Congress portraits (about 180×225 px): a 1:N search against the collection and a 1:1 compare,
each on a new connection (so the kernel spreads them over the processes, as it does for
separate clients). Each process has its own engine, behind its own lock: one request at a time
per process uses the engine. The table names the 1-process run as the baseline.

``--database-url`` sets ``FACELEDGER_DATABASE_URL`` for every command and server of the run
(the PostgreSQL backend, where it is built; the default is the data folder's SQLite files).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from faceledger.cpus import available_cpus
from faceledger.datasets import require_dataset
from faceledger.errors import FaceledgerError

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "congress"
HEADERS = {"X-Purpose": "research", "X-Case-Ref": "bench-1"}
WORKER = "x-faceledger-worker"


def portraits(data: str | None) -> tuple[list[Path], str]:
    try:
        folder = require_dataset("congress_current", data) / "images"
        return sorted(folder.glob("*.jpg")), f"congress_current ({folder})"
    except FaceledgerError:
        return sorted(FIXTURES.glob("*.jpg")), "the six portraits of tests/fixtures (repeated)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faceledger", "serve", "--port", str(self.port),
             "--workers", str(workers), "--video-workers", "0", "--retention-every", "0"],
            env={**env, "FACELEDGER_WORKER_HEADER": "1"}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.workers = workers

    def wait(self, key: str, probe: bytes, timeout: float = 300) -> set[str]:
        """Until every process has answered a search (its models loaded)."""
        warm: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(warm) < self.workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {self.log.name}")
            try:
                r = search(self.base, key, probe)
                if r.status_code == 200:
                    warm.add(r.headers[WORKER])
            except httpx.TransportError:
                time.sleep(0.3)
        return warm

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


def cpu_seconds(group: int) -> float | None:
    """CPU time (user + system) used so far by the processes of a process group (Linux /proc;
    None elsewhere). Independent of what else the machine runs, unlike requests/s."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # pgrp
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **HEADERS}


def search(base: str, key: str, probe: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/collections/bench/search", files={"image": ("p.jpg", probe, "image/jpeg")},
        data={"max_results": 5}, headers=auth(key), timeout=300,
    )  # fmt: skip


def compare(base: str, key: str, a: bytes, b: bytes) -> httpx.Response:
    files = {"source": ("a.jpg", a, "image/jpeg"), "target": ("b.jpg", b, "image/jpeg")}
    return httpx.post(f"{base}/v1/compare", files=files, headers=auth(key), timeout=300)


def build(env: dict[str, str], home: Path, images: list[Path], faces: int) -> str:
    """The data folder, its key and a collection of ``faces`` portraits (through a server)."""
    subprocess.run([sys.executable, "-m", "faceledger", "admin", "init"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    key = (home / "cli-key").read_text().strip()
    server = Server(env, 1, home.parent / "build.log")
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                r = httpx.post(f"{server.base}/v1/collections", json={"collection_id": "bench"},
                               headers=auth(key), timeout=60)  # fmt: skip
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.proc.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        assert r.status_code == 201, r.text
        indexed = 0
        for i in range(faces * 3):
            if indexed >= faces:
                break
            data = images[i % len(images)].read_bytes()
            r = httpx.post(f"{server.base}/v1/collections/bench/faces",
                           files={"image": ("f.jpg", data, "image/jpeg")},
                           data={"consent": f"bench-{i}", "max_faces": 1},
                           headers=auth(key), timeout=300)  # fmt: skip
            assert r.status_code == 201, r.text
            indexed += len(r.json()["face_records"])
    finally:
        server.stop()
    return key


def load(base: str, key: str, probes: list[bytes], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    served: Counter[str] = Counter()
    failed = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        k = i
        while time.monotonic() < stop_at:
            a, b = probes[k % len(probes)], probes[(k + 1) % len(probes)]
            t = time.perf_counter()
            try:
                r = search(base, key, a) if k % 2 == 0 else compare(base, key, a, b)
                status = r.status_code
            except httpx.TransportError as exc:
                status = type(exc).__name__
            took = time.perf_counter() - t
            with lock:
                if status == 200:
                    latencies.append(took)
                    served[r.headers[WORKER]] += 1
                else:
                    failed[str(status)] += 1
            k += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [0.0] * 19
    return {
        "done": len(latencies), "rps": len(latencies) / elapsed, "p50": q[9], "p95": q[18],
        "spread": "/".join(str(n) for _, n in served.most_common()), "failed": dict(failed),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--faces", type=int, default=50)
    ap.add_argument("--data", help="folder holding congress_current/ (default: data root)")
    ap.add_argument("--database-url", help="sets FACELEDGER_DATABASE_URL for the servers")
    args = ap.parse_args()
    if 1 not in args.workers:
        ap.error("--workers must include 1 (the baseline)")
    images, source = portraits(args.data)
    with tempfile.TemporaryDirectory(prefix="faceledger-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "FACELEDGER_HOME": str(home)}
        if args.database_url:
            env["FACELEDGER_DATABASE_URL"] = args.database_url
        key = build(env, home, images, args.faces)
        probes = [p.read_bytes() for p in images[-12:]]
        rows = []
        for n in sorted(set(args.workers)):
            server = Server(env, n, Path(tmp) / f"serve-{n}.log")
            try:
                warm = server.wait(key, probes[0])
                print(f"{n} process(es) ready: {sorted(warm)}", file=sys.stderr, flush=True)
                before = cpu_seconds(server.proc.pid)
                row = load(server.base, key, probes, args.clients, args.seconds)
                after = cpu_seconds(server.proc.pid)
                row["cpu_ms"] = (
                    None if before is None or after is None or not row["done"]
                    else (after - before) * 1000 / row["done"]
                )  # fmt: skip
                rows.append((n, row))
            finally:
                server.stop()
    backend = "PostgreSQL" if args.database_url else "SQLite (data folder)"
    print(f"\nserve --workers N: {args.clients} clients, {args.seconds:g} s each, search of a "
          f"{args.faces}-face collection and compare (alternating), backend {backend}")  # fmt: skip
    load1, load5, _ = os.getloadavg()
    print(f"portraits: {source}; cores available: {available_cpus()}; load average at the end "
          f"{load1:.1f} (1 min), {load5:.1f} (5 min)\n")  # fmt: skip
    base = next(r["rps"] for n, r in rows if n == 1)
    print("| workers | requests | req/s | vs 1 worker | p50 ms | p95 ms | server CPU ms/request "
          "| per process | failed |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, r in rows:
        name = "baseline" if n == 1 else f"{r['rps'] / base:.2f}×"
        cpu = "n/a" if r["cpu_ms"] is None else f"{r['cpu_ms']:.0f}"
        print(f"| {n} | {r['done']} | {r['rps']:.2f} | {name} | {r['p50'] * 1000:.0f} | "
              f"{r['p95'] * 1000:.0f} | {cpu} | {r['spread']} | {r['failed'] or 0} |")  # fmt: skip
    print(
        "\nrequests/s depend on what else the machine runs (see the load average); the "
        "server's CPU time per request much less so. cores × 1000 / (CPU ms per request) "
        "bounds the requests/s of an idle machine, reached only when the processes keep every "
        "core busy (one process cannot: its engine answers one request at a time)."
    )


if __name__ == "__main__":
    main()
