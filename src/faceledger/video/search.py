"""Stored-video face search: tracks of the footage, each described once and searched once.

:func:`search_video` runs the whole pipeline on a video file (sampled frames → tracks → one
descriptor per track → one search per track) and returns a :class:`VideoSearchResult` shaped
like the cloud API's GetFaceSearch: per sampled appearance of a person, its timestamp (ms),
track index and box, with the track's matches; per track, its first and last timestamps. The
``search`` callable does the store search (the service passes a tenant-scoped one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceledger.engine.types import BoundingBox
from faceledger.store.base import FaceHit
from faceledger.video.intake import DEFAULT_SAMPLE_FPS, Sample, VideoInput, VideoLimits
from faceledger.video.intake import sample_frames as _sample_frames
from faceledger.video.tracks import (
    DEFAULT_MIN_FACE_SIZE,
    Observation,
    Tracker,
    describe,
    track_faces,
)

Search = Callable[[np.ndarray], list[FaceHit]]


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
) -> VideoSearchResult:
    """Track the faces of ``source`` and search each track once with ``search``; with
    ``window_ms`` (first, last), only the frames of that part of the footage are looked at."""
    frames = (
        samples
        if samples is not None
        else _sample_frames(source, fps=sample_fps, limits=limits, window_ms=window_ms)
    )
    count, pixels = 0, 0

    def seen(sample: Sample) -> None:
        nonlocal count, pixels
        count += 1
        pixels += sample.pixels.shape[0] * sample.pixels.shape[1]
        if on_sample is not None:
            on_sample(sample)

    results, detections = [], 0
    tracker = Tracker(engine, min_face_size=min_face_size, motion=motion)
    for track in track_faces(engine, frames, on_sample=seen, tracker=tracker):
        detections += len(track.observations)
        vector, face, best_ms = describe(engine, track)
        hits = search(vector) if vector is not None else []
        results.append(
            TrackResult(
                index=track.index, first_ms=track.first_ms, last_ms=track.last_ms,
                observations=track.observations, best_ms=best_ms,
                best_box=face.box if face is not None else None, searched=vector is not None,
                matches=hits,
            )
        )  # fmt: skip
    results.sort(key=lambda t: t.index)
    share = tracker.searched_pixels / pixels if pixels else 1.0
    return VideoSearchResult(results, count, detections, round(share, 4))


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
