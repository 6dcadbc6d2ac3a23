"""The Engine: pixels → faces (box, score, landmarks, pose, quality) → embeddings → comparisons."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from faceledger.engine import arcface
from faceledger.engine.alignment import CHIP_PADDING, CHIP_SIZE, Aligner
from faceledger.engine.detection import (
    DEFAULT_DETECTOR,
    DEFAULT_MAX_DETECT_PIXELS,
    DEFAULT_MIN_FACE_SIZE,
    FaceDetector,
)
from faceledger.engine.embedding import (
    TTA_PADDINGS,
    Descriptor,
    load_descriptor,
    tta_combine,
    tta_descriptors,
)
from faceledger.engine.pose import estimate_pose
from faceledger.engine.quality import measure_quality
from faceledger.engine.scoring import register as register_scoring
from faceledger.engine.scoring import scored_distances
from faceledger.engine.similarity import (
    DEFAULT_THRESHOLD,
    similarity_from_distance,
)
from faceledger.engine.types import BoundingBox, Comparison, Face, FaceMatch
from faceledger.errors import ModelError
from faceledger.images import DEFAULT_MAX_PIXELS, ImageInput, load_pixels

MAX_FACES = 100


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything that changes what the engine returns; documented in the README."""

    detector: str = DEFAULT_DETECTOR
    min_face_size: int = DEFAULT_MIN_FACE_SIZE
    max_detect_pixels: int = DEFAULT_MAX_DETECT_PIXELS
    max_faces: int = MAX_FACES
    max_pixels: int = DEFAULT_MAX_PIXELS
    backend: str = "auto"
    threads: int | None = None
    tta: bool = True
    user_model: object | None = None
    """A registered ``engine.user_models.UserModel`` to embed with (None: dlib's shipped one)."""
    scoring: object | None = None
    """An ``engine.scoring.Scoring`` of this model (its normalised distances and id), or None."""


class Engine:
    """Face detection, description and comparison with shipped dlib models.

    >>> engine = Engine()
    >>> faces = engine.detect("portrait.jpg")          # largest first
    >>> faces = engine.represent("portrait.jpg")       # with 128-D embeddings
    >>> result = engine.compare("a.jpg", "b.jpg")      # similarity 0–100, match at threshold
    """

    def __init__(self, config: EngineConfig | None = None, **options: object) -> None:
        base = config or EngineConfig()
        self.config = EngineConfig(**{**_asdict(base), **options})  # type: ignore[arg-type]
        if not 1 <= self.config.max_faces <= MAX_FACES:
            raise ValueError(f"max_faces must be between 1 and {MAX_FACES}")
        self._detector = FaceDetector(
            self.config.detector, backend=self.config.backend, threads=self.config.threads
        )
        self._aligner = Aligner()
        self._descriptor: Descriptor | None = None
        if self.config.scoring is not None:
            register_scoring(self.config.scoring)  # type: ignore[arg-type]

    def with_scoring(self, scoring: object | None) -> Engine:
        """This engine scoring with ``scoring`` (an ``engine.scoring.Scoring``; None: raw
        distances), sharing its detector and loaded networks."""
        other = copy.copy(self)
        other.config = dataclasses.replace(self.config, scoring=scoring)
        other._descriptor = self.descriptor
        if scoring is not None:
            register_scoring(scoring)  # type: ignore[arg-type]
        return other

    @property
    def descriptor(self) -> Descriptor:
        if self._descriptor is None:
            self._descriptor = load_descriptor(
                self.config.backend, threads=self.config.threads, user_model=self.config.user_model
            )
        return self._descriptor

    @property
    def model_id(self) -> str:
        """Id of the embeddings this engine makes; embeddings of different ids never compare."""
        base = self.descriptor.model_id
        model = f"{base}+tta6" if self.config.tta else base
        scoring = self.config.scoring
        if scoring is None:
            return model
        if scoring.base_model_id != model:  # type: ignore[attr-defined]
            raise ModelError(
                f"scoring {scoring.scoring_id} normalises {scoring.base_model_id}; this engine "  # type: ignore[attr-defined]
                f"makes {model}"
            )
        return scoring.scoring_id  # type: ignore[attr-defined]

    @property
    def paddings(self) -> tuple[float, ...]:
        return TTA_PADDINGS if self.config.tta else (CHIP_PADDING,)

    def detect(self, image: ImageInput, *, keep_chips: bool = False) -> list[Face]:
        """Faces in ``image``, largest first, at most ``max_faces``; [] when there is none."""
        pixels = load_pixels(image, max_pixels=self.config.max_pixels)
        return self.detect_pixels(pixels, keep_chips=keep_chips)

    def detect_pixels(
        self,
        pixels: np.ndarray,
        *,
        keep_chips: bool = False,
        min_face_size: int | None = None,
        hog_raw: list[tuple[tuple[int, int, int, int], float]] | None = None,
    ) -> list[Face]:
        """Faces in decoded RGB pixels; ``min_face_size`` overrides the config's (a larger one
        searches fewer scales: video search at 80 px is ~6x faster than at 40 on 1080p).
        ``hog_raw``: HOG's answer on :meth:`hog_input`, computed in another process."""
        detections, _plan = self._detector.detect(
            pixels,
            min_face_size=min_face_size or self.config.min_face_size,
            max_detect_pixels=self.config.max_detect_pixels,
            hog_raw=hog_raw,
        )
        detections.sort(key=lambda d: d.box.area, reverse=True)
        kept = detections[: self.config.max_faces]
        return self.faces_at(
            pixels, [(d.box, d.score, d.detector) for d in kept], keep_chips=keep_chips
        )

    def hog_input(
        self, pixels: np.ndarray, *, min_face_size: int | None = None
    ) -> np.ndarray | None:
        """What :meth:`detect_pixels` would give dlib's HOG (None: no HOG in this detector)."""
        return self._detector.hog_input(
            pixels,
            min_face_size=min_face_size or self.config.min_face_size,
            max_detect_pixels=self.config.max_detect_pixels,
        )

    def faces_at(
        self,
        pixels: np.ndarray,
        boxes: list[tuple[BoundingBox, float, str]],
        *,
        keep_chips: bool = False,
    ) -> list[Face]:
        """Landmarks, pose, quality (and chips) for faces at given boxes (box, score, source)."""
        faces = []
        for box, score, source in boxes:
            shape = self._aligner.shape(pixels, box)
            points = self._aligner.points(shape)
            paddings = self.paddings if keep_chips else (CHIP_PADDING,)  # quality needs one
            chips = self._aligner.chips(pixels, shape, paddings)
            quality = measure_quality(chips[0], box)
            if keep_chips and self._alignment != ("dlib-150", CHIP_SIZE):
                chips = self._model_chips(pixels, shape, points)
            faces.append(
                Face(
                    box=box,
                    score=score,
                    detector=source,
                    landmarks=points,
                    pose=estimate_pose(points),
                    quality=quality,
                    chips=chips if keep_chips else None,
                )
            )
        return faces

    @property
    def _alignment(self) -> tuple[str, int]:
        """How this engine's model wants its chips cut, and their side in pixels."""
        user = self.config.user_model
        return getattr(user, "alignment", "dlib-150"), getattr(user, "input_size", CHIP_SIZE)

    def _model_chips(self, pixels: np.ndarray, shape, points: np.ndarray) -> np.ndarray:  # noqa: ANN001
        """Chips for a user's model that does not take dlib's 150×150 chip: dlib's chip at
        another size, or ArcFace's five-point template, at each crop scale of ``paddings``."""
        alignment, size = self._alignment
        if alignment == "arcface-112":
            zooms = tuple((1 + 2 * CHIP_PADDING) / (1 + 2 * p) for p in self.paddings)
            return arcface.chips(pixels, points, size, zooms)
        return self._aligner.chips(pixels, shape, self.paddings, size)

    def represent(self, image: ImageInput) -> list[Face]:
        """Like ``detect``, each face with its embedding and ``model_id``."""
        pixels = load_pixels(image, max_pixels=self.config.max_pixels)
        return self.represent_pixels(pixels)

    def represent_pixels(self, pixels: np.ndarray) -> list[Face]:
        faces = self.detect_pixels(pixels, keep_chips=True)
        self.embed_faces(faces)
        return faces

    def embed_faces(self, faces: list[Face]) -> None:
        """Fill in ``embedding`` and ``model_id`` of faces that carry their chips."""
        if not faces:
            return
        chips = np.stack([f.chips for f in faces])  # type: ignore[misc]
        vecs = self.embed_chips(chips)
        model_id = self.model_id
        for face, vec in zip(faces, vecs, strict=True):
            face.embedding = vec
            face.model_id = model_id
            face.chips = None

    def link_descriptors(self, faces: list[Face]) -> np.ndarray:
        """(N, 128) cheap descriptors (dlib's chip alone, no test-time augmentation) of faces
        that carry their chips: to tell faces apart between video frames. Not this engine's
        model id: never stored, never searched."""
        if not faces:
            return np.zeros((0, 128), dtype=np.float32)
        chips = np.stack([f.chips[0] for f in faces])  # type: ignore[index]
        return np.asarray(self.descriptor.compute(chips), dtype=np.float32)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, K, 150, 150, 3) chips at ``self.paddings`` → (N, 128) embeddings of this model id.

        With ``tta`` (default): six crops per face (three scales, each mirrored), combined by
        ``tta_combine`` into a unit vector. Without: dlib's raw descriptor of the 0.25 chip.
        """
        if self.config.tta:
            return tta_combine(tta_descriptors(self.descriptor, chips))
        return self.descriptor.compute(chips[:, 0])

    def compare(
        self, source: ImageInput, target: ImageInput, *, threshold: float = DEFAULT_THRESHOLD
    ) -> Comparison:
        """The largest face of ``source`` against every face of ``target``.

        No face in source gives ``source_face=None`` and no matches; it is not an error.
        """
        source_faces = self.represent(source)
        target_faces = self.represent(target)
        if not source_faces:
            return Comparison(None, [], threshold, self.model_id)
        return self.compare_faces(source_faces[0], target_faces, threshold=threshold)

    def compare_faces(
        self, source: Face, targets: list[Face], *, threshold: float = DEFAULT_THRESHOLD
    ) -> Comparison:
        for face in [source, *targets]:
            if face.embedding is None or face.model_id != source.model_id:
                raise ModelError("faces to compare must carry embeddings of the same model id")
        matches = []
        model_id = source.model_id or self.model_id
        vectors = [f.embedding for f in targets]
        dist = scored_distances(model_id, source.embedding, np.stack(vectors)) if vectors else []  # type: ignore[arg-type]
        for face, d in zip(targets, dist, strict=True):
            s = float(similarity_from_distance(float(d), model_id))
            matches.append(
                FaceMatch(face=face, distance=float(d), similarity=s, match=s >= threshold)
            )
        return Comparison(source, matches, threshold, source.model_id or self.model_id)


def _asdict(config: EngineConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in EngineConfig.__dataclass_fields__}
