"""Run the engine over many images on all cores, in input order, with a progress bar.

dlib evaluates one face at a time on one core, so throughput comes from processes: each worker
builds its own Engine once and takes images in small chunks. A failure on one image (corrupt,
unreadable) is returned in its place as a FaceledgerError and never stops the batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import TypeVar

from tqdm import tqdm

from faceledger.cpus import available_cpus
from faceledger.engine.core import Engine, EngineConfig
from faceledger.errors import FaceledgerError

T = TypeVar("T")

_worker_engine: Engine | None = None


def default_workers() -> int:
    """One worker per CPU this process may use (affinity and cgroup quota)."""
    return available_cpus()


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
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress, leave=False)
    try:
        if workers == 1 or len(items) <= 1:
            engine = Engine(config)
            for item in items:
                yield item, _guarded(task, engine, item)
                bar.update()
            return
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(config,)
        ) as pool:
            for item, result in zip(
                items,
                pool.map(partial(_run_in_worker, task), items, chunksize=chunksize),
                strict=True,
            ):
                yield item, result
                bar.update()
    finally:
        bar.close()


def _guarded(task: Callable[[Engine, str], T], engine: Engine, item: str) -> T | FaceledgerError:
    try:
        return task(engine, item)
    except FaceledgerError as exc:
        return exc


def _init_worker(config: EngineConfig | None) -> None:
    """One engine per worker, one thread each: the pool already uses every core."""
    global _worker_engine
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_engine = Engine(config, threads=1)


def _run_in_worker(task: Callable[[Engine, str], T], item: str) -> T | FaceledgerError:
    assert _worker_engine is not None
    return _guarded(task, _worker_engine, item)
