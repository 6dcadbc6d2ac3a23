"""Decode ahead: the sampled frames of a video decoded in a thread while the caller detects.

Decoding (FFmpeg, which releases the GIL) and detection then overlap on two cores: on 1080p
H.264 the decoder's ~1.5 s per 20 s of footage no longer adds to the detector's time. At most
``depth`` samples wait decoded (a 1080p RGB frame is 6 MB). Errors of the decoder (a
``VideoError`` for a corrupt or truncated file) are raised to the caller at the sample where
they happened, as the plain iterator would; closing the iterator early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items`` produced by a background thread, at most ``depth`` ahead of the consumer."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="faceledger-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
