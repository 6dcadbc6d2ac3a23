"""One helper that starts a real ``faceledger serve`` on a free local port, for every test that
is about the server (``tests/api``, ``tests/console``, the many-process tests).

``Served(env, *args, workers=N)`` returns once the server answers ``/v1/health`` (with
``workers > 1``: once every process has answered, seen by its ``X-Faceledger-Worker``
header, which the helper turns on). Its output goes to a file, not a pipe (a full pipe would
stall the server); ``stop()`` ends the whole process group and returns that output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

WORKER_HEADER = "x-faceledger-worker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A real ``faceledger serve`` (``python -m faceledger serve --port P *args``)."""

    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        workers: int = 1,
        log: Path | None = None,
        timeout: float = 90.0,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self._own_log = log is None
        if log is None:
            fd, name = tempfile.mkstemp(prefix="faceledger-serve-", suffix=".log")
            os.close(fd)
            log = Path(name)
        self.log_path = log
        self._log = log.open("wb")
        env = {**env, "FACELEDGER_WORKER_HEADER": "1"} if workers > 1 else env
        command = [sys.executable, "-m", "faceledger", "serve", "--port", str(self.port), *args]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pids: set[str] = set()
        self._stopped: str | None = None
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = httpx.get(f"{self.base}/v1/health", timeout=2)  # a new connection each time
                if r.status_code == 200:
                    if WORKER_HEADER in r.headers:
                        self.pids.add(r.headers[WORKER_HEADER])
                    if self.workers == 1 or len(self.pids) >= self.workers:
                        return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """End the server (SIGTERM to its process group: uvicorn's processes shut down
        cleanly) and return all it printed."""
        if self._stopped is not None:
            return self._stopped
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()
        self._stopped = self.log_path.read_text(errors="replace")
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return self._stopped

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
