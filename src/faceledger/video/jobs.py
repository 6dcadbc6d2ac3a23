"""The video-search worker: a thread that runs queued jobs one at a time (``faceledger serve``
starts one in each server process; ``--video-workers 0`` starts none).

It claims the oldest queued job (atomically: the claim is one write transaction, so two
processes never run the same job), runs it (``FaceService.run_video_job``: the decided
request's work, its results and audit event), and polls for the next. Jobs live in the store, so
they survive a restart of the server: ``faceledger serve`` puts the jobs a stopped server left
``running`` back in the queue once, before its processes start (``api.serving.prepare``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("faceledger.video")


class VideoWorker:
    def __init__(self, service: Any, *, poll_seconds: float = 1.0) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> VideoWorker:
        self._thread = threading.Thread(target=self._loop, name="faceledger-video", daemon=True)
        self._thread.start()
        return self

    def run_pending(self) -> int:
        """Run every queued job now, in this thread; returns how many ran."""
        done = 0
        while not self._stop.is_set():
            job = self.service.store.claim_video_job()
            if job is None:
                return done
            self.service.run_video_job(job)
            done += 1
        return done

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_pending()
            except Exception:  # noqa: BLE001 - log and keep serving
                log.exception("video worker error")
                ran = 0
            if not ran:
                self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
