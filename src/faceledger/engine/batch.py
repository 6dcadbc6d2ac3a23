"""Run the engine over many images on all cores, in input order, with a progress bar.

dlib evaluates one face at a time on one core, so throughput comes from processes: each worker
builds its own Engine once and takes images in small chunks. A failure on one image (corrupt,
unreadable) is returned in its place as a FaceledgerError and never stops the batch.

Workers die with the process that started them, even when it is killed with SIGKILL (which runs
no cleanup): see ``_exit_with_parent``.

Where the work runs is an :class:`ImageExecutor`: :class:`LocalProcesses` (this module) or
``engine.ray_batch.RayExecutor`` (a Ray cluster). Callers such as bulk indexing take one and stay
the same loop whichever runs it.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from faceledger.cpus import available_cpus
from faceledger.engine.core import Engine, EngineConfig
from faceledger.errors import FaceledgerError

T = TypeVar("T")

PARENT_POLL_S = 0.5
"""How often a worker's watchdog thread checks that its parent is still there."""
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_worker_engine: Engine | None = None


def default_workers() -> int:
    """One worker per CPU this process may use (affinity and cgroup quota)."""
    return available_cpus()


class ImageExecutor(Protocol):
    """Runs ``task(engine, image)`` over image files somewhere and yields ``(item, result)`` in
    input order as results come in, a FaceledgerError of one image in place of its result.

    ``task`` is a module-level function (it is pickled to the workers); ``config`` the settings
    of the engine each worker builds once. A task may receive the file's path or its bytes.
    """

    def map(
        self,
        items: Iterable[str],
        task: Callable[[Engine, Any], T],
        *,
        config: EngineConfig | None = None,
        progress: bool = True,
        desc: str = "images",
    ) -> Iterator[tuple[str, T | FaceledgerError]]: ...


@dataclass(frozen=True, slots=True)
class LocalProcesses:
    """The executor of this machine: ``workers`` processes (default: one per usable CPU)."""

    workers: int | None = None
    chunksize: int = 4

    def map(
        self,
        items: Iterable[str],
        task: Callable[[Engine, Any], T],
        *,
        config: EngineConfig | None = None,
        progress: bool = True,
        desc: str = "images",
    ) -> Iterator[tuple[str, T | FaceledgerError]]:
        return process_images(
            items, task, config=config, workers=self.workers, progress=progress, desc=desc,
            chunksize=self.chunksize,
        )  # fmt: skip


def progress_bar(total: int, desc: str, progress: bool) -> tqdm:
    """The bar every executor shows (on stderr, gone when done)."""
    return tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False)


def process_images(
    items: Iterable[str],
    task: Callable[[Engine, str], T],
    *,
    config: EngineConfig | None = None,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "images",
    chunksize: int = 4,
) -> Iterator[tuple[str, T | FaceledgerError]]:
    """Yield ``(item, task(engine, item))`` for each item, in order.

    ``task`` must be a module-level function (it is pickled to the workers). Errors that are
    FaceledgerError are yielded in place of the result; anything else is a bug and propagates.
    """
    items = list(items)
    workers = default_workers() if workers is None else max(1, workers)
    bar = progress_bar(len(items), desc, progress)
    try:
        if workers == 1 or len(items) <= 1:
            engine = Engine(config)
            for item in items:
                yield item, guarded(task, engine, item)
                bar.update()
            return
        context = multiprocessing.get_context()
        lifeline = (
            os.getpid(),
            context.get_start_method(),
            threading.current_thread() is threading.main_thread(),
        )
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(config, lifeline),
        ) as pool:
            with _gc_frozen_for_fork():  # the workers are forked by the first submission
                results = pool.map(partial(_run_in_worker, task), items, chunksize=chunksize)
            for item, result in zip(items, results, strict=True):
                yield item, result
                bar.update()
    finally:
        bar.close()


@contextmanager
def _gc_frozen_for_fork() -> Iterator[None]:
    """Fork workers that never run the destructors of the parent's garbage.

    A forked worker inherits the parent's objects but not its threads. When the garbage
    collector of a worker frees an inherited object that owns threads, such as an onnxruntime
    session of an Engine dropped in a reference cycle, the destructor waits for threads that do
    not exist in the worker, and the worker hangs forever. So the parent frees its garbage
    first (where the threads exist), then freezes what remains into the collector's permanent
    generation while the workers are forked: a worker's collector never visits those objects.
    The parent unfreezes once they are forked.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def guarded(task: Callable[[Engine, Any], T], engine: Engine, item: Any) -> T | FaceledgerError:
    try:
        return task(engine, item)
    except FaceledgerError as exc:
        return exc


def _init_worker(config: EngineConfig | None, lifeline: tuple[int, str, bool]) -> None:
    """One engine per worker, one thread each: the pool already uses every core."""
    global _worker_engine
    _exit_with_parent(*lifeline)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_engine = Engine(config, threads=1)


def _run_in_worker(task: Callable[[Engine, str], T], item: str) -> T | FaceledgerError:
    assert _worker_engine is not None
    return guarded(task, _worker_engine, item)


def _exit_with_parent(owner: int, start_method: str, owner_main_thread: bool) -> None:
    """End this worker when the process that started the pool (``owner``) dies.

    Every worker inherits its siblings' ends of the pool's pipes, so none of them ever reads
    end-of-file when the parent dies: without this they block on the pipe forever, each holding
    its models. Two mechanisms, as neither suffices alone:

    - Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, immediate even mid-computation. The kernel
      sends it when the *thread* that forked this worker exits, so it is only armed when that
      thread is the owner's main thread (or the single-threaded fork server), which lives as
      long as the process. A parent that died before the prctl is caught by the ``getppid``
      check after it.
    - everywhere: a daemon thread that exits the worker once ``getppid()`` changes (the worker
      was re-parented because its parent died), within ``PARENT_POLL_S`` once it gets the GIL
      (a native call holding the GIL, such as a dlib detection, delays it until it returns).

    With the "forkserver" start method the parent is the fork server, which exits with the owner.
    """
    forkserver = start_method == "forkserver"
    if sys.platform.startswith("linux") and (owner_main_thread or forkserver):
        _set_parent_death_signal(signal.SIGKILL)
    parent = os.getppid()
    if not forkserver and parent != owner:
        os._exit(1)  # the owner died before this worker got here
    threading.Thread(
        target=_watch_parent, args=(parent,), name="faceledger-lifeline", daemon=True
    ).start()


def _set_parent_death_signal(sig: signal.Signals) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl in this libc
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)
