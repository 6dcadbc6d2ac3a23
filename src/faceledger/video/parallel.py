"""dlib's HOG on a second core: a helper process that searches some of a sample's regions.

dlib's HOG detector holds the GIL and uses one core; on large footage it is most of the work.
Between full scans the motion gate (``video.motion``) leaves several regions per sample: the
tracker gives about half of their pixels to this process (dlib's HOG, the same detector with
the same threshold: the same answer) and searches the rest itself; the CNN fallback, landmarks
and chips of every region stay in the caller. Started only for frames of at least
``MIN_PIXELS`` on a machine with two CPUs or more, one of them free when the search starts, and
stopped when the search ends.

The helper is ``python -m faceledger.video.parallel``: pickled arrays in on its stdin, pickled
answers out on its stdout, in order (no ``multiprocessing``: it would import the caller's main
module again). If it dies, its regions are searched in the caller.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
from collections import deque
from typing import IO, Any

import numpy as np

from faceledger.cpus import available_cpus

MIN_PIXELS = 1_000_000
"""Frames smaller than this (720p is 0.9 MP) are searched in one process: starting the helper
costs about a second."""

Raw = list[tuple[tuple[int, int, int, int], float]]


def _send(out: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(struct.pack("<Q", len(data)))
    out.write(data)
    out.flush()


def _receive(src: IO[bytes]) -> Any:
    head = src.read(8)
    if len(head) < 8:
        raise EOFError("the HOG helper stopped")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(src.read(size))  # noqa: S301 - our own child process's answer


class Pending:
    """One region handed to the helper: :meth:`result` is its HOG answer."""

    def __init__(self, helper: HogHelper, pixels: np.ndarray) -> None:
        self.helper, self.pixels = helper, pixels
        self.answer: Raw | None = None

    def result(self) -> Raw | None:
        """The helper's answer; None when it failed (the caller runs HOG itself)."""
        self.helper._collect(self)
        return self.answer


class HogHelper:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "faceledger.video.parallel"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=None,
        )  # fmt: skip
        self._waiting: deque[Pending] = deque()

    @staticmethod
    def wanted(frame_pixels: int) -> bool:
        """Large frames, two CPUs or more, and one of them free (the load average, which
        counts this process, below the CPUs less half of one): on a busy machine a second
        process only adds its start and the copies."""
        cpus = available_cpus()
        return frame_pixels >= MIN_PIXELS and cpus >= 2 and os.getloadavg()[0] < cpus - 0.5

    def submit(self, pixels: np.ndarray) -> Pending:
        pending = Pending(self, pixels)
        if self._proc is not None:
            try:
                _send(self._proc.stdin, pixels)  # type: ignore[arg-type]
                self._waiting.append(pending)
            except OSError:
                self.close()
        return pending

    def _collect(self, pending: Pending) -> None:
        while pending in self._waiting and self._proc is not None:
            first = self._waiting.popleft()
            try:
                first.answer = _receive(self._proc.stdout)  # type: ignore[arg-type]
            except (EOFError, OSError, pickle.UnpicklingError):
                self.close()
        if pending in self._waiting:
            self._waiting.remove(pending)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._waiting.clear()
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    """The helper: HOG answers, in order, until its input ends."""
    from faceledger.engine.detection import FaceDetector

    detector = FaceDetector("hog")
    src, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            pixels = _receive(src)
        except EOFError:
            return
        _send(out, detector._run("hog", pixels))


if __name__ == "__main__":
    main()
