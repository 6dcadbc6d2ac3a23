"""Run the engine over many images on a Ray cluster: the Ray ``ImageExecutor`` (engine.batch).

This process (the driver) reads each file and sends its bytes, with the engine's settings, to a
Ray task of one CPU; a worker process builds its Engine once and keeps it for the tasks that
follow. Results come back in input order, at most ``window`` tasks in flight (so a folder of a
million images never sits in memory), the next one submitted before a result is handed over, so
the workers keep going while the caller commits. Workers never touch a store or a log: they
return what the task returns (the prepared faces) and the caller commits.

Ray is optional: ``pip install 'faceledger[ray]'``. Every node of a cluster needs faceledger
installed (and a user model's file at the same path). Nothing is downloaded: the local cluster
starts without the dashboard, usage statistics are off unless ``$RAY_USAGE_STATS_ENABLED`` says
otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from faceledger.cpus import available_cpus
from faceledger.engine.batch import guarded, progress_bar
from faceledger.engine.core import Engine, EngineConfig
from faceledger.errors import FaceledgerError, ImageError

T = TypeVar("T")

RAY_EXTRA = "pip install 'faceledger[ray]'"
REACH_TIMEOUT_S = 10.0
"""How long to wait for a cluster's address to answer before saying it does not."""

_worker_engine: tuple[EngineConfig | None, Engine] | None = None
"""In a Ray worker process: the engine of the last settings seen, kept between tasks."""


class RayUnavailable(FaceledgerError):
    """Ray was asked for but is not installed."""

    code = "ray_unavailable"


def require_ray() -> ModuleType:
    """The ``ray`` module, or a RayUnavailable that names the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"Ray is not installed: {RAY_EXTRA}") from exc
    return ray


class RayExecutor:
    """Decode and embed on a Ray cluster: the one at ``address`` ("host:port", "auto" for the
    one ``ray start`` started here), else a new local one of ``num_cpus`` CPUs (default: the
    usable CPUs), started on first use and shut down by :meth:`close`. A process already
    connected to Ray uses that connection (and leaves it open).

    >>> with RayExecutor(num_cpus=2) as executor:
    ...     for path, result in service.index_images(ctx, "people", paths, executor=executor):
    ...         ...
    """

    def __init__(
        self, address: str | None = None, *, num_cpus: int | None = None, window: int | None = None
    ) -> None:
        if address and num_cpus is not None:
            raise ValueError("num_cpus sizes a local cluster; a cluster at an address has its own")
        if num_cpus is not None and num_cpus < 1:
            raise ValueError("num_cpus must be at least 1")
        if importlib.util.find_spec("ray") is None:
            raise RayUnavailable(f"Ray is not installed: {RAY_EXTRA}")
        if address:
            _check_reachable(address)  # fail fast, before Ray's slow import
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read by Ray from here on
        self.ray = require_ray()
        self.address = address or None
        self.num_cpus = num_cpus
        self.window = window
        self._owned = False

    def connect(self) -> None:
        """Join the cluster, or start the local one; nothing to do when already connected."""
        ray = self.ray
        if ray.is_initialized():
            return
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:  # "local": never join a cluster found through $RAY_ADDRESS by surprise
                cpus = self.num_cpus or available_cpus()
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"join the Ray cluster at {self.address}" if self.address else "start Ray"
            raise RayUnavailable(f"cannot {where}: {exc}") from exc
        self._owned = True

    def close(self) -> None:
        """Disconnect (a local cluster this executor started stops with it)."""
        if self._owned:
            self._owned = False
            self.ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def cpus(self) -> int:
        """CPUs of the cluster (connecting first)."""
        self.connect()
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def map(
        self,
        items: Iterable[str],
        task: Callable[[Engine, Any], T],
        *,
        config: EngineConfig | None = None,
        progress: bool = True,
        desc: str = "images",
    ) -> Iterator[tuple[str, T | FaceledgerError]]:
        items = list(items)
        bar = progress_bar(len(items), desc, progress)
        pending: deque[tuple[str, Any]] = deque()
        try:
            if not items:
                return
            ray = self.ray
            window = self.window or 2 * self.cpus()
            remote = ray.remote(num_cpus=1)(_run_task)
            settings = ray.put(config)
            queue = iter(items)

            def submit() -> None:
                item = next(queue, None)
                if item is None:
                    return
                try:
                    pending.append((item, remote.remote(task, settings, _read(item))))
                except FaceledgerError as exc:
                    pending.append((item, exc))

            for _ in range(window):
                submit()
            while pending:
                item, ref = pending.popleft()
                result = ref if isinstance(ref, FaceledgerError) else ray.get(ref)
                submit()
                yield item, result
                bar.update()
        finally:
            bar.close()
            for _, ref in pending:  # the caller stopped early: nothing more to compute
                if not isinstance(ref, FaceledgerError):
                    self.ray.cancel(ref)


def _check_reachable(address: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Fail fast on a cluster address nothing listens at (Ray itself retries for minutes).
    Only ``host:port`` (and ``ray://host:port``) is checked; ``auto`` is Ray's to resolve."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayUnavailable(
            f"cannot reach the Ray cluster at {address}: {reason} (check the address, or start "
            "the cluster there with 'ray start --head')"
        ) from exc


def _read(path: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        raise ImageError(f"no such file: {file}", code="file_not_found")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {file}: {exc.strerror}", code="unreadable") from exc


def _run_task(
    task: Callable[[Engine, bytes], T], config: EngineConfig | None, data: bytes
) -> T | FaceledgerError:
    """In a Ray worker: one engine per process and settings, one thread (Ray gives each task
    one CPU)."""
    global _worker_engine
    if _worker_engine is None or _worker_engine[0] != config:
        _worker_engine = (config, Engine(config, threads=1))
    return guarded(task, _worker_engine[1], data)
