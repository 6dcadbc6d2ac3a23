"""Face tracks: faces detected on sampled frames, followed from one sample to the next.

A detection joins the track it most resembles. Where boxes alone tell (the face overlaps one
track's last box, moved by the track's last displacement, by half, and nothing competes) that is
the link; otherwise its cheap descriptor (``Engine.link_descriptors``: one chip, no
augmentation) decides: close to the track's with overlapping boxes, or very close with no
overlap at all (a face that walked fast). A track not seen for ``max_gap`` samples ends. Each track
keeps its ``keep_best`` best-quality observations (face size, sharpness, frontal pose: the
engine's quality measures), and is *described* once, when it ends, by the mean of their
embeddings in the engine's model: one search per track, not one per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceledger.engine.types import BoundingBox, Face
from faceledger.service.quality import QualityFilter, quality_reasons
from faceledger.video.intake import Sample
from faceledger.video.motion import change_map, live_regions
from faceledger.video.parallel import HogHelper

LINK_DISTANCE = 0.5
"""Descriptor distance below which two faces are the same person whatever their boxes (dlib's
own same-person threshold is 0.6)."""
OVERLAP_DISTANCE = 0.65
"""With overlapping boxes (IoU at least ``MIN_IOU``), a looser distance still links."""
MIN_IOU = 0.2
SURE_IOU = 0.5
"""Overlap with a track's predicted box that links a face without a descriptor, when no other
face or track competes for either."""
DEFAULT_MIN_FACE_SIZE = 40
"""Shorter side in pixels of the smallest face video search looks for (the engine's default)."""


@dataclass(slots=True)
class Observation:
    timestamp_ms: int
    box: BoundingBox


@dataclass(slots=True)
class Track:
    index: int
    observations: list[Observation] = field(default_factory=list)
    best: list[tuple[float, int, Face]] = field(default_factory=list)
    """(quality rank, timestamp ms, face with chips), best first, at most ``keep_best``."""
    vector: np.ndarray | None = None
    """Mean cheap descriptor of the observations that needed one to be linked."""
    described: int = 0
    last_sample: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)

    @property
    def first_ms(self) -> int:
        return self.observations[0].timestamp_ms

    @property
    def last_ms(self) -> int:
        return self.observations[-1].timestamp_ms

    def predicted(self) -> BoundingBox:
        box = self.observations[-1].box
        dx, dy = self.velocity
        return BoundingBox(round(box.left + dx), round(box.top + dy), box.width, box.height)


def quality_rank(face: Face) -> float:
    """Higher is better: a large, sharp, frontal face; a face below the LOW bar ranks last."""
    q = face.quality
    rank = q.face_size * min(q.sharpness, 100.0) / 100.0
    rank *= math.cos(math.radians(min(abs(face.pose.yaw), 89.0)))
    rank *= math.cos(math.radians(min(abs(face.pose.pitch), 89.0)))
    if quality_reasons(face, QualityFilter.LOW):
        rank -= 1e6
    return rank


class Tracker:
    """Feed samples in order; finished tracks come out of :meth:`update` and :meth:`finish`."""

    def __init__(
        self,
        engine: object,
        *,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        max_gap: int = 2,
        keep_best: int = 3,
        motion: bool = True,
        full_every: int = 10,
        parallel: bool = True,
    ) -> None:
        self.engine = engine
        self.min_face_size = min_face_size
        self.max_gap = max_gap
        self.keep_best = keep_best
        self.motion = motion
        self.full_every = full_every
        self.active: list[Track] = []
        self.count = 0
        self.detections = 0
        self.descriptors = 0
        self.searched_pixels = 0
        """Pixels searched by the detector (the motion gate's saving shows here)."""
        self._previous: np.ndarray | None = None
        self._last_full = -full_every
        self.parallel = parallel
        """Large frames: HOG on about half the regions in a helper process (``video.parallel``)."""
        self._helper: HogHelper | None = None

    def update(self, sample: Sample) -> list[Track]:
        """Detect on one sample, link, and return the tracks that ended before it."""
        engine = self.engine
        faces = self._detect(sample)
        self.detections += len(faces)
        ended = [t for t in self.active if sample.index - t.last_sample > self.max_gap]
        self.active = [t for t in self.active if t not in ended]
        sure = self._unambiguous(faces)
        rest = [i for i in range(len(faces)) if i not in sure]
        vectors = engine.link_descriptors([faces[i] for i in rest])  # type: ignore[attr-defined]
        self.descriptors += len(rest)
        taken = set(sure.values())
        open_tracks = [t for t in self.active if id(t) not in taken]
        links = self._assign([faces[i] for i in rest], vectors, open_tracks)
        for i, track in sure.items():
            self._extend(next(t for t in self.active if id(t) == track), sample, faces[i], None)
        for j, track in links:
            if track is None:
                track = Track(self.count)
                self.count += 1
                self.active.append(track)
            self._extend(track, sample, faces[rest[j]], vectors[j])
        return ended

    def _unambiguous(self, faces: list[Face]) -> dict[int, int]:
        """Face index → id of its track, where boxes alone tell: the face overlaps one track's
        predicted box by ``SURE_IOU`` and that box overlaps no other face so much. These faces
        need no descriptor (the cheap one costs about as much as detecting in a small region)."""
        overlaps = [
            [f for f, face in enumerate(faces) if t.predicted().iou(face.box) >= SURE_IOU]
            for t in self.active
        ]
        out: dict[int, int] = {}
        for t, hits in enumerate(overlaps):
            if len(hits) == 1 and sum(hits[0] in o for o in overlaps) == 1:
                out[hits[0]] = id(self.active[t])
        return out

    def _detect(self, sample: Sample) -> list[Face]:
        """Faces of the sample: in the whole frame, or (motion gate, see ``video.motion``) in
        the regions that changed or where a track is expected."""
        pixels = sample.pixels
        regions = None
        if self.motion:
            current = change_map(pixels)
            if sample.index - self._last_full < self.full_every:
                expected = [t.predicted() for t in self.active]
                regions = live_regions(self._previous, current, expected, pixels.shape)
            self._previous = current
        detect = self.engine.detect_pixels  # type: ignore[attr-defined]
        if regions is None:
            self._last_full = sample.index
            self.searched_pixels += pixels.shape[0] * pixels.shape[1]
            return detect(pixels, keep_chips=True, min_face_size=self.min_face_size)
        crops = []
        for left, top, right, bottom in regions:
            self.searched_pixels += (right - left) * (bottom - top)
            crops.append(np.ascontiguousarray(pixels[top:bottom, left:right]))
        remote = self._hand_out(crops, pixels.shape[0] * pixels.shape[1])
        per_region: dict[int, list[Face]] = {}
        # the caller's regions first, while the helper searches its own
        for i in sorted(range(len(crops)), key=lambda i: i in remote):
            left, top = regions[i][0], regions[i][1]
            raw = remote[i].result() if i in remote else None
            per_region[i] = detect(crops[i], keep_chips=True, min_face_size=self.min_face_size,
                                   hog_raw=raw)  # fmt: skip
            for face in per_region[i]:
                b = face.box
                face.box = BoundingBox(b.left + left, b.top + top, b.width, b.height)
                face.landmarks = face.landmarks + np.array([left, top], dtype=float)
        found = [face for i in range(len(crops)) for face in per_region[i]]
        found.sort(key=lambda f: -f.box.area)
        kept: list[Face] = []
        for face in found:  # a face in two overlapping regions once
            if all(face.box.iou(k.box) < 0.5 for k in kept):
                kept.append(face)
        return kept

    def _hand_out(self, crops: list[np.ndarray], frame_pixels: int) -> dict[int, Any]:
        """Region index → the helper's HOG answer (a future), for about half the pixels: the
        largest regions alternately, the caller keeping the first (it starts at once)."""
        if not self.parallel or len(crops) < 2:
            return {}
        if self._helper is None:
            if not HogHelper.wanted(frame_pixels):
                self.parallel = False
                return {}
            self._helper = HogHelper()
        engine = self.engine
        order = sorted(range(len(crops)), key=lambda i: -crops[i].shape[0] * crops[i].shape[1])
        mine = theirs = 0
        out = {}
        for i in order:
            size = crops[i].shape[0] * crops[i].shape[1]
            if theirs < mine:
                scaled = engine.hog_input(crops[i], min_face_size=self.min_face_size)  # type: ignore[attr-defined]
                if scaled is not None:
                    out[i] = self._helper.submit(scaled)
                    theirs += size
                    continue
            mine += size
        return out

    def close(self) -> None:
        """Stop the helper process, if one was started."""
        if self._helper is not None:
            self._helper.close()
            self._helper = None

    def finish(self) -> list[Track]:
        ended, self.active = self.active, []
        return ended

    def _assign(
        self, faces: list[Face], vectors: np.ndarray, tracks: list[Track]
    ) -> list[tuple[int, Track | None]]:
        pairs = []
        for ti, track in enumerate(tracks):
            predicted = track.predicted()
            for fi, face in enumerate(faces):
                d = float(np.linalg.norm(track.vector - vectors[fi]))
                iou = predicted.iou(face.box)
                if d < LINK_DISTANCE or (iou >= MIN_IOU and d < OVERLAP_DISTANCE):
                    pairs.append((d - 0.3 * iou, ti, fi))
        pairs.sort()
        used_t: set[int] = set()
        out: dict[int, Track | None] = {}
        for _, ti, fi in pairs:
            if ti in used_t or fi in out:
                continue
            used_t.add(ti)
            out[fi] = tracks[ti]
        return [(fi, out.get(fi)) for fi in range(len(faces))]

    def _extend(self, track: Track, sample: Sample, face: Face, vector: np.ndarray | None) -> None:
        if track.observations:
            last = track.observations[-1].box
            steps = max(1, sample.index - track.last_sample)
            track.velocity = ((face.box.left - last.left) / steps,
                              (face.box.top - last.top) / steps)  # fmt: skip
        track.observations.append(Observation(sample.timestamp_ms, face.box))
        if vector is not None:
            track.described += 1
            mean = track.vector
            track.vector = vector if mean is None else mean + (vector - mean) / track.described
        track.last_sample = sample.index
        track.best.append((quality_rank(face), sample.timestamp_ms, face))
        track.best.sort(key=lambda b: -b[0])
        for _, _, dropped in track.best[self.keep_best :]:
            dropped.chips = None
        del track.best[self.keep_best :]


def track_faces(
    engine: object,
    samples: Iterable[Sample],
    *,
    min_face_size: int = DEFAULT_MIN_FACE_SIZE,
    on_sample: Callable[[Sample], None] | None = None,
    motion: bool = True,
    tracker: Tracker | None = None,
) -> Iterator[Track]:
    """Every track of the footage, each as soon as it has ended (then the ones still open)."""
    tracker = tracker or Tracker(engine, min_face_size=min_face_size, motion=motion)
    for sample in samples:
        yield from tracker.update(sample)
        if on_sample is not None:
            on_sample(sample)
    yield from tracker.finish()


def describe(engine: object, track: Track) -> tuple[np.ndarray | None, Face | None, int | None]:
    """The track's descriptor in the engine's model (mean of its best observations'
    embeddings, unit length as the model's own), its best face and that face's timestamp;
    None when no observation is usable for recognition (all below the LOW quality bar)."""
    usable = [(t, f) for rank, t, f in track.best if rank > -1e5 and f.chips is not None]
    if not usable:
        return None, track.best[0][2] if track.best else None, None
    faces = [f for _, f in usable]
    engine.embed_faces(faces)  # type: ignore[attr-defined]
    vectors = np.stack([f.embedding for f in faces]).astype(np.float64)  # type: ignore[misc]
    mean = vectors.mean(axis=0)
    if getattr(getattr(engine, "config", None), "tta", False):  # the model's vectors are unit
        norm = float(np.linalg.norm(mean))
        mean = mean / norm if norm > 0 else vectors[0]
    return mean.astype(np.float32), faces[0], usable[0][0]
