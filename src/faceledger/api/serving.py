"""Running the app under uvicorn: one process, or ``--workers N`` processes on one data folder.

Each process opens its own runtime (store, governance database, engine) from the same settings,
passed to it in the environment (:data:`ENV`, JSON of :class:`ServeOptions`) and read by the
import-string factory :func:`app_from_env`. Whatever must be shared by the processes lives in
the databases, never in a process's memory: the audit chain (appended under the database's
write lock), rate limits, SigV4 signatures seen, client request tokens, leads and their reviews,
console sessions (``console.sessions``), the claim of each video job, and the turn of the
retention purge (``governance.schedule``). See docs/scale.md, "Many server processes".

Before any process starts, :func:`prepare` opens the data folder once: migrations, the audit
outbox a crash left, and the video jobs a stopped server left running put back in the queue
(there, and not in each worker process: a process that uvicorn restarts must not take back the
jobs that the other processes are running).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from faceledger.api.app import DEFAULT_MAX_BODY, DEFAULT_MAX_VIDEO_BODY, create_app
from faceledger.cpus import available_cpus
from faceledger.runtime import Runtime, build_engine
from faceledger.settings import Settings

ENV = "FACELEDGER_SERVE"
"""The settings of every server process, as JSON of :class:`ServeOptions`."""
WORKER_HEADER_ENV = "FACELEDGER_WORKER_HEADER"
"""``1``: every response names the process that served it (``X-Faceledger-Worker: <pid>``), for
tests and load balancing checks; off by default (it tells clients about the host)."""

HEALTHCHECK_SECONDS = 120
"""How long uvicorn's supervisor waits for a process to answer its ping before it kills and
replaces it (uvicorn's default, 5 s, is shorter than loading the models on a busy machine, and
than one long detection that holds the interpreter)."""

log = logging.getLogger("faceledger.serve")


@dataclass(frozen=True)
class ServeOptions:
    data_dir: str
    policy_path: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_video_body: int = DEFAULT_MAX_VIDEO_BODY
    detector: str = "auto"
    model: str | None = None
    scoring: str | None = None
    """A normalised scoring (``faceledger model normalize``), else ``$FACELEDGER_SCORING``."""
    retention_every: float = 3600.0
    """Seconds between retention purges (each run taken by one process only); 0: off."""
    video_workers: int = 1
    """Video search worker threads per process (jobs are claimed atomically)."""
    engine_threads: int | None = None
    """Threads of the networks per process (None: every CPU; :func:`run` gives each of N
    processes its share, so that N processes do not run N × CPUs threads)."""
    policy_sha256: str | None = None
    """The policy every process must decide with: the one :func:`prepare` read. A process
    that uvicorn starts later, after the policy file changed, refuses to start rather than
    decide by another policy than its siblings and ends the server (restart ``serve`` to change
    the policy)."""

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeOptions:
        text = (environ if environ is not None else os.environ).get(ENV)
        if not text:
            raise RuntimeError(f"${ENV} is not set: start the server with 'faceledger serve'")
        return cls(**json.loads(text))

    def settings(self) -> Settings:
        return Settings.resolve(
            self.data_dir, policy_path=self.policy_path, detector=self.detector,
            model=self.model, scoring=self.scoring, engine_threads=self.engine_threads,
        )  # fmt: skip


def prepare(options: ServeOptions) -> tuple[list[str], str]:
    """Open the data folder once before the server processes start (migrations, the audit
    outbox, policy and model checked); returns the video jobs queued again and the SHA-256 of
    the policy."""
    settings = options.settings()
    with Runtime.open(settings) as runtime:
        return runtime.store.requeue_video_jobs(), runtime.policy.sha256


def build(options: ServeOptions) -> FastAPI:
    """The app of one server process, with its background work (started with the app's
    lifespan, stopped at its end)."""

    @contextlib.contextmanager
    def background(runtime: Runtime) -> Iterator[None]:
        started: list[Any] = []
        try:
            if options.retention_every > 0:
                from faceledger.retention_task import RetentionTask

                started.append(RetentionTask(runtime, options.retention_every).start())
            if options.video_workers:
                from faceledger.video.jobs import VideoWorker

                started.append(VideoWorker(runtime.faces).start())
            yield
        finally:
            for task in reversed(started):
                task.stop()

    engine = build_engine(options.settings())  # with this process's share of threads
    app = create_app(
        options.data_dir, options.policy_path, engine,
        max_body=options.max_body, max_video_body=options.max_video_body,
        detector=options.detector, model=options.model, scoring=options.scoring,
        background=background,
        worker_header=os.environ.get(WORKER_HEADER_ENV) == "1",
    )  # fmt: skip
    if options.policy_sha256 and app.state.policy.sha256 != options.policy_sha256:
        app.state.close()
        raise PolicyChangedError(
            "the policy file changed since 'faceledger serve' started: this process would "
            "decide by another policy than the others; restart 'faceledger serve' to use it"
        )
    return app


class PolicyChangedError(RuntimeError):
    """The policy file is not the one the other processes decide by."""


def app_from_env() -> FastAPI:
    """The import-string factory of every server process (``uvicorn --factory``). A process
    that would decide by a changed policy exits as a failed start, so that uvicorn stops the
    whole server (rather than start it again and again): restart ``serve`` to use the policy."""
    try:
        return build(ServeOptions.from_env())
    except PolicyChangedError as exc:
        from uvicorn.config import STARTUP_FAILURE

        log.error("%s", exc)
        sys.exit(STARTUP_FAILURE)


def run(options: ServeOptions, *, host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped: one process (``workers=1``) or uvicorn's supervisor and ``workers``
    processes sharing the listening socket."""
    import uvicorn

    from faceledger.api.accesslog import log_config

    requeued, policy = prepare(options)
    options = dataclasses.replace(options, policy_sha256=policy)
    if requeued:
        log.info("video jobs queued again after a restart: %s", ", ".join(requeued))
    # the access log without credentials passed in query strings (faceledger.api.accesslog)
    common: dict[str, Any] = {
        "host": host, "port": port, "log_level": "info", "log_config": log_config(),
    }  # fmt: skip
    if workers == 1:
        uvicorn.run(build(options), **common)
        return
    if options.engine_threads is None:
        share = max(1, available_cpus() // workers)
        options = dataclasses.replace(options, engine_threads=share)
    os.environ[ENV] = options.to_env()  # inherited by the processes uvicorn starts
    uvicorn.run(
        f"{__name__}:app_from_env", factory=True, workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS, **common,
    )  # fmt: skip
