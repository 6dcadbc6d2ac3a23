"""Stored-video face search: tracks of the footage, each described once and searched once.

:func:`search_video` runs the whole pipeline on a video file (sampled frames → tracks → one
descriptor per track → one search per track) and returns a :class:`VideoSearchResult` shaped
like the cloud API's GetFaceSearch: per sampled appearance of a person, its timestamp (ms),
track index and box, with the track's matches; per track, its first and last timestamps. The
``search`` callable does the store search (the service passes a tenant-scoped one).

**Checkpoints.** At a quiet sample (no track open: every face seen so far is in a finished,
searched track) the pipeline can hand its state to ``on_checkpoint``: a :class:`Checkpoint`
(the sample it ends at, the finished tracks with their matches, the tracker's counters and the
motion gate's change map). ``search_video(..., resume=checkpoint)`` continues after that
sample as if it had never stopped: the same tracks, matches and counts as an uninterrupted run.
Footage with a face in every sample has no quiet sample, and a resumed job starts again.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceledger.engine.types import BoundingBox
from faceledger.store.base import FaceHit
from faceledger.video.intake import DEFAULT_SAMPLE_FPS, Sample, VideoInput, VideoLimits
from faceledger.video.intake import sample_frames as _sample_frames
from faceledger.video.readahead import read_ahead
from faceledger.video.tracks import (
    DEFAULT_MIN_FACE_SIZE,
    Observation,
    Track,
    Tracker,
    describe,
    track_faces,
)

Search = Callable[[np.ndarray], list[FaceHit]]
CHECKPOINT_EVERY = 10
"""Samples between checkpoints when no track ended in between (one is offered at the first
quiet sample after a track ended)."""


@dataclass(slots=True)
class TrackResult:
    index: int
    first_ms: int
    last_ms: int
    observations: list[Observation]
    best_ms: int | None
    best_box: BoundingBox | None
    searched: bool
    matches: list[FaceHit] = field(default_factory=list)

    def to_dict(self, *, matches: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "first_timestamp_ms": self.first_ms,
            "last_timestamp_ms": self.last_ms,
            "samples": len(self.observations),
            "best_timestamp_ms": self.best_ms,
            "best_box": None if self.best_box is None else self.best_box.to_dict(),
            "searched": self.searched,
        }
        if matches:
            out["matches"] = [_match(m) for m in self.matches]
        return out

    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild it (:meth:`from_state`): the matches by face id and
        distance (the face records are read again from the store, so an erased face is gone)."""
        return {
            **self.to_dict(matches=False),
            "observations": [[o.timestamp_ms, *_box(o.box)] for o in self.observations],
            "best_box": None if self.best_box is None else _box(self.best_box),
            "matches": [
                {"face_id": m.face.face_id, "user_id": m.face.user_id,
                 "distance": m.distance, "model_id": m.model_id}
                for m in self.matches
            ],
        }  # fmt: skip

    @classmethod
    def from_state(cls, data: dict[str, Any], faces: dict[str, Any]) -> TrackResult:
        """``faces``: face id → its ``FaceRecord`` (missing: that match is dropped)."""
        return cls(
            index=data["index"], first_ms=data["first_timestamp_ms"],
            last_ms=data["last_timestamp_ms"],
            observations=[Observation(t, BoundingBox(*b)) for t, *b in data["observations"]],
            best_ms=data["best_timestamp_ms"],
            best_box=None if data["best_box"] is None else BoundingBox(*data["best_box"]),
            searched=data["searched"],
            matches=[FaceHit(faces[m["face_id"]], m["distance"], m["model_id"])
                     for m in data["matches"] if m["face_id"] in faces],
        )  # fmt: skip


@dataclass(slots=True)
class Checkpoint:
    """The pipeline's state after sample ``index`` (at ``timestamp_ms``), no track open."""

    index: int
    timestamp_ms: int
    samples: int
    pixels: int
    searched_pixels: int
    tracks_started: int
    last_full: int
    change_map: np.ndarray | None
    tracks: list[TrackResult]

    def to_state(self) -> dict[str, Any]:
        """JSON-ready; the change map as quarter grey levels (exact: it is a mean of four)."""
        cmap = self.change_map
        return {
            "index": self.index, "timestamp_ms": self.timestamp_ms, "samples": self.samples,
            "pixels": self.pixels, "searched_pixels": self.searched_pixels,
            "tracks_started": self.tracks_started, "last_full": self.last_full,
            "change_map": None if cmap is None else {
                "shape": list(cmap.shape),
                "data": base64.b64encode((cmap * 4).astype("<u2").tobytes()).decode(),
            },
            "tracks": [t.to_state() for t in self.tracks],
        }  # fmt: skip

    @classmethod
    def from_state(cls, data: dict[str, Any], faces: dict[str, Any]) -> Checkpoint:
        cmap = data["change_map"]
        change = None
        if cmap is not None:
            raw = np.frombuffer(base64.b64decode(cmap["data"]), dtype="<u2")
            change = (raw.astype(np.float32) / 4).reshape(cmap["shape"])
        return cls(
            index=data["index"], timestamp_ms=data["timestamp_ms"], samples=data["samples"],
            pixels=data["pixels"], searched_pixels=data["searched_pixels"],
            tracks_started=data["tracks_started"], last_full=data["last_full"],
            change_map=change, tracks=[TrackResult.from_state(t, faces) for t in data["tracks"]],
        )  # fmt: skip

    @staticmethod
    def face_ids(data: dict[str, Any]) -> list[str]:
        """The matched face ids a stored checkpoint names (to read their records)."""
        return sorted({m["face_id"] for t in data["tracks"] for m in t["matches"]})


@dataclass(slots=True)
class VideoSearchResult:
    tracks: list[TrackResult]
    samples: int
    detections: int
    searched_share: float = 1.0
    """Share of the sampled frames' pixels the detector searched (the motion gate's work)."""

    def cap(self, k: int) -> None:
        """Keep the ``k`` most similar matches over all tracks (a cap per request)."""
        ranked = sorted(
            ((m.similarity, t.index, j) for t in self.tracks for j, m in enumerate(t.matches)),
            key=lambda r: (-r[0], r[1], r[2]),
        )
        keep = {(i, j) for _, i, j in ranked[:k]}
        for t in self.tracks:
            t.matches = [m for j, m in enumerate(t.matches) if (t.index, j) in keep]

    def rows(self) -> list[dict[str, Any]]:
        """One row per match, for a review lead and the audit outcome (ids, similarities)."""
        return [
            {
                "track_index": t.index,
                "first_timestamp_ms": t.first_ms,
                "last_timestamp_ms": t.last_ms,
                "face_id": m.face.face_id,
                "external_image_id": m.face.external_image_id,
                "user_id": m.face.user_id,
                "similarity": round(m.similarity, 4),
            }
            for t in self.tracks
            for m in t.matches
        ]

    def to_dict(self, *, matches: bool = True) -> dict[str, Any]:
        """Tracks and, per sampled appearance, the person (GetFaceSearch's ``Persons``).
        ``matches=False``: the matches are held for review and left out."""
        persons = [
            {
                "timestamp_ms": o.timestamp_ms,
                "track_index": t.index,
                "box": o.box.to_dict(),
                **({"matches": [_brief(m) for m in t.matches]} if matches else {}),
            }
            for t in self.tracks
            for o in t.observations
        ]
        persons.sort(key=lambda p: (p["timestamp_ms"], p["track_index"]))
        return {
            "samples": self.samples,
            "detections": self.detections,
            "tracks": [t.to_dict(matches=matches) for t in self.tracks],
            "persons": persons,
        }


def search_video(
    engine: Any,
    source: VideoInput,
    search: Search,
    *,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    min_face_size: int = DEFAULT_MIN_FACE_SIZE,
    limits: VideoLimits | None = None,
    on_sample: Callable[[Sample], None] | None = None,
    samples: Sequence[Sample] | None = None,
    motion: bool = True,
    window_ms: tuple[int, int] | None = None,
    resume: Checkpoint | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    parallel: bool = True,
) -> VideoSearchResult:
    """Track the faces of ``source`` and search each track once with ``search``; with
    ``window_ms`` (first, last), only the frames of that part of the footage are looked at.
    ``on_checkpoint`` receives the state at quiet samples; ``resume`` continues from one."""
    frames: Iterable[Sample] = (
        samples
        if samples is not None
        else read_ahead(_sample_frames(source, fps=sample_fps, limits=limits, window_ms=window_ms))
    )
    tracker = Tracker(engine, min_face_size=min_face_size, motion=motion, parallel=parallel)
    results: list[TrackResult] = []
    count, pixels, saved, saved_tracks = 0, 0, -1, 0
    if resume is not None:
        after = resume.index
        frames = (s for s in frames if s.index > after)
        count, pixels, saved = resume.samples, resume.pixels, resume.index
        results, saved_tracks = list(resume.tracks), len(resume.tracks)
        tracker.count, tracker._last_full = resume.tracks_started, resume.last_full
        tracker.searched_pixels, tracker._previous = resume.searched_pixels, resume.change_map

    # A track that ended is described (its best faces embedded: ONNX, which releases the GIL)
    # in a thread while the next samples are detected (dlib's HOG, which holds it); searches
    # stay in this thread, in the order the tracks ended.
    getattr(engine, "descriptor", None)  # loaded here, not first in the describing thread
    describer = ThreadPoolExecutor(1, thread_name_prefix="faceledger-describe")
    pending: deque[tuple[Track, Future[Any]]] = deque()

    def harvest(wait: bool) -> None:
        while pending and (wait or pending[0][1].done()):
            track, described = pending.popleft()
            vector, face, best_ms = described.result()
            hits = search(vector) if vector is not None else []
            results.append(
                TrackResult(
                    index=track.index, first_ms=track.first_ms, last_ms=track.last_ms,
                    observations=track.observations, best_ms=best_ms,
                    best_box=face.box if face is not None else None,
                    searched=vector is not None, matches=hits,
                )
            )  # fmt: skip

    def seen(sample: Sample) -> None:
        nonlocal count, pixels, saved, saved_tracks
        count += 1
        pixels += sample.pixels.shape[0] * sample.pixels.shape[1]
        if on_sample is not None:
            on_sample(sample)
        quiet = not tracker.active
        harvest(wait=quiet and on_checkpoint is not None)
        due = len(results) > saved_tracks or sample.index - saved >= CHECKPOINT_EVERY
        if on_checkpoint is not None and quiet and due:
            saved, saved_tracks = sample.index, len(results)
            on_checkpoint(
                Checkpoint(
                    index=sample.index, timestamp_ms=sample.timestamp_ms, samples=count,
                    pixels=pixels, searched_pixels=tracker.searched_pixels,
                    tracks_started=tracker.count, last_full=tracker._last_full,
                    change_map=tracker._previous, tracks=list(results),
                )
            )  # fmt: skip

    try:
        for track in track_faces(engine, frames, on_sample=seen, tracker=tracker):
            pending.append((track, describer.submit(describe, engine, track)))
            harvest(wait=False)
        harvest(wait=True)
    finally:
        describer.shutdown(wait=True, cancel_futures=True)
        tracker.close()
    results.sort(key=lambda t: t.index)
    detections = sum(len(t.observations) for t in results)
    share = tracker.searched_pixels / pixels if pixels else 1.0
    return VideoSearchResult(results, count, detections, round(share, 4))


def _box(box: BoundingBox) -> list[int]:
    return [box.left, box.top, box.width, box.height]


def _match(hit: FaceHit) -> dict[str, Any]:
    return {
        "face": hit.face.to_dict(),
        "similarity": round(hit.similarity, 2),
        "distance": round(hit.distance, 4),
    }


def _brief(hit: FaceHit) -> dict[str, Any]:
    return {
        "face_id": hit.face.face_id,
        "external_image_id": hit.face.external_image_id,
        "similarity": round(hit.similarity, 2),
    }
