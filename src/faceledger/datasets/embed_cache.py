"""Embeddings of an evaluation dataset, computed once on all cores and cached on disk.

For evaluation the images are known to hold their subject's face in the centre (LFW
deep-funneled, UTKFace chips, portraits), so a miss is not accepted silently: when HOG finds no
face plausibly central, the CNN detector runs too, and when neither does, a fixed central box is
used. Every face records which of the three produced it, so reports can count them.
All six raw descriptors of the test-time augmentation are kept, so pipeline variants are
compared from one run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from faceledger.engine.batch import process_images
from faceledger.engine.core import Engine, EngineConfig
from faceledger.engine.detection import FaceDetector
from faceledger.engine.embedding import tta_combine, tta_descriptors
from faceledger.engine.models import DESCRIPTOR_MODEL_ID
from faceledger.engine.similarity import DEFAULT_MODEL_ID
from faceledger.engine.types import BoundingBox, Face
from faceledger.errors import FaceledgerError
from faceledger.images import load_pixels

CACHE_VERSION = 4
FALLBACK_CENTER_FRACTION = 0.45
"""Side of the central fallback box as a fraction of the image's shorter side."""
CENTRAL_TOLERANCE = 0.2
"""A face is plausibly the subject when its centre is within 20 % of the image centre and it is
wider than 20 % of the image."""

EVAL_CONFIG = EngineConfig(detector="hog")
"""The evaluation chain starts from HOG alone and adds the CNN itself (see above), so a cached
table does not depend on the product's default detector."""

_cnn: FaceDetector | None = None


def cache_dir() -> Path:
    """$FACELEDGER_CACHE_DIR or the user's cache folder."""
    env = os.environ.get("FACELEDGER_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("faceledger"))


@dataclass
class FaceTable:
    """All faces found in a list of images, one row per face."""

    paths: list[str]
    image_index: np.ndarray  # (F,) int: row → index into paths
    boxes: np.ndarray  # (F,4) left, top, width, height
    scores: np.ndarray  # (F,)
    sources: np.ndarray  # (F,) str: hog | cnn | center
    descriptors: np.ndarray  # (F,6,128) raw: chips at TTA_PADDINGS, then their mirrors
    sizes: np.ndarray  # (I,2) width, height of each image
    errors: dict[str, str]

    def embeddings(self, *, tta: bool = True) -> np.ndarray:
        """Vectors of the default model (``dlib-resnet-v1+tta6``), or dlib's raw single chip."""
        return tta_combine(self.descriptors) if tta else self.descriptors[:, 0]

    def model_id(self, *, tta: bool = True) -> str:
        return DEFAULT_MODEL_ID if tta else DESCRIPTOR_MODEL_ID

    def select(
        self, strategy: str = "center", sources: tuple[str, ...] = ("hog", "cnn", "center")
    ) -> np.ndarray:
        """One face row per image (-1 when none), among faces found by ``sources``: the
        largest, or ("center") the one nearest the centre, preferring faces that are plausibly
        the subject (central and not tiny, as the fallback chain decides) over a small
        background face that happens to sit nearer the centre."""
        chosen = np.full(len(self.paths), -1, dtype=np.int64)
        best = np.full(len(self.paths), np.inf)
        for row, img in enumerate(self.image_index):
            if self.sources[row] not in sources:
                continue
            left, top, w, h = self.boxes[row]
            if strategy == "largest":
                key = -float(w * h)
            elif strategy == "center":
                iw, ih = self.sizes[img]
                key = float(np.hypot(left + w / 2 - iw / 2, top + h / 2 - ih / 2))
                if not central_box(left, top, w, h, iw, ih):
                    key += float(iw + ih)  # after every plausible face
            else:
                raise ValueError(f"unknown selection strategy {strategy!r}")
            if key < best[img]:
                best[img], chosen[img] = key, row
        return chosen

    def source_counts(self, rows: np.ndarray) -> dict[str, int]:
        picked = [str(self.sources[r]) for r in rows if r >= 0]
        return {s: picked.count(s) for s in ("hog", "cnn", "center")} | {
            "none": int((rows < 0).sum())
        }


def embed_images(
    root: Path,
    relative_paths: list[str],
    *,
    name: str,
    config: EngineConfig | None = None,
    workers: int | None = None,
    progress: bool = True,
    use_cache: bool = True,
) -> FaceTable:
    """Faces and descriptors of ``root/p`` for each p, cached under ``cache_dir()``."""
    config = dataclasses.replace(config or EVAL_CONFIG, tta=True)  # all six crops are kept
    file = cache_file(root, relative_paths, name=name, config=config)
    if use_cache and file.exists():
        return _load(file)
    absolute = [str(root / p) for p in relative_paths]
    rows: list[tuple[int, list[float], float, str, np.ndarray]] = []
    sizes = np.zeros((len(absolute), 2), dtype=np.int32)
    errors: dict[str, str] = {}
    results = process_images(
        absolute, _describe_for_eval, config=config, workers=workers, progress=progress, desc=name
    )
    for index, (_path, result) in enumerate(results):
        if isinstance(result, FaceledgerError):
            errors[relative_paths[index]] = str(result)
            continue
        sizes[index] = result["size"]
        for box, score, source, descriptors in result["faces"]:
            rows.append((index, box, score, source, descriptors))
    table = FaceTable(
        paths=list(relative_paths),
        image_index=np.array([r[0] for r in rows], dtype=np.int64),
        boxes=np.array([r[1] for r in rows], dtype=np.float32).reshape(-1, 4),
        scores=np.array([r[2] for r in rows], dtype=np.float32),
        sources=np.array([r[3] for r in rows], dtype="U8"),
        descriptors=np.array([r[4] for r in rows], dtype=np.float32).reshape(-1, 6, 128),
        sizes=sizes,
        errors=errors,
    )
    _save(file, table)
    return table


def cache_file(
    root: Path, relative_paths: list[str], *, name: str, config: EngineConfig | None = None
) -> Path:
    """Where ``embed_images`` with the same arguments keeps its table (it may not exist yet)."""
    config = dataclasses.replace(config or EVAL_CONFIG, tta=True)
    key = hashlib.sha256(
        json.dumps(
            [CACHE_VERSION, str(root.resolve()), relative_paths, _config_key(config)]
        ).encode()
    ).hexdigest()[:16]
    return cache_dir() / "embeddings" / f"{name}-{key}.npz"


def cached_table(
    root: Path, relative_paths: list[str], *, name: str, config: EngineConfig | None = None
) -> FaceTable | None:
    """What ``embed_images`` with the same arguments would return from its cache, or None when
    it has not been computed: never computes (for readers that must not fall back silently)."""
    file = cache_file(root, relative_paths, name=name, config=config)
    return _load(file) if file.exists() else None


def _config_key(config: EngineConfig) -> list[object]:
    key: list[object] = [
        config.detector,
        config.min_face_size,
        config.max_detect_pixels,
        config.max_faces,
    ]
    if config.user_model is not None:  # another network: other embeddings
        key.append(getattr(config.user_model, "fingerprint", repr(config.user_model)))
    return key


def central_box(left: float, top: float, w: float, h: float, width: int, height: int) -> bool:
    return (
        abs(left + w / 2 - width / 2) < CENTRAL_TOLERANCE * width
        and abs(top + h / 2 - height / 2) < CENTRAL_TOLERANCE * height
        and w > CENTRAL_TOLERANCE * width
    )


def _plausibly_central(face: Face, width: int, height: int) -> bool:
    b = face.box
    return central_box(b.left, b.top, b.width, b.height, width, height)


def _describe_for_eval(engine: Engine, path: str) -> dict[str, object]:
    """Worker task: every face with its six raw descriptors, with the fallback chain."""
    global _cnn
    pixels = load_pixels(path, max_pixels=engine.config.max_pixels)
    h, w = pixels.shape[:2]
    faces = engine.detect_pixels(pixels, keep_chips=True)
    if not any(_plausibly_central(f, w, h) for f in faces):
        _cnn = _cnn or FaceDetector("cnn", threads=engine.config.threads)
        dets, _ = _cnn.detect(pixels, min_face_size=engine.config.min_face_size)
        dets.sort(key=lambda d: d.box.area, reverse=True)
        faces += engine.faces_at(pixels, [(d.box, d.score, "cnn") for d in dets], keep_chips=True)
    if not any(_plausibly_central(f, w, h) for f in faces):
        side = int(min(h, w) * FALLBACK_CENTER_FRACTION)
        box = BoundingBox((w - side) // 2, (h - side) // 2, side, side)
        faces += engine.faces_at(pixels, [(box, 0.0, "center")], keep_chips=True)
    descriptors = tta_descriptors(engine.descriptor, np.stack([f.chips for f in faces]))
    return {
        "size": (w, h),
        "faces": [
            ([f.box.left, f.box.top, f.box.width, f.box.height], float(f.score), f.detector, d)
            for f, d in zip(faces, descriptors, strict=True)
        ],
    }


def _save(file: Path, table: FaceTable) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        paths=np.array(table.paths),
        image_index=table.image_index,
        boxes=table.boxes,
        scores=table.scores,
        sources=table.sources,
        descriptors=table.descriptors,
        sizes=table.sizes,
        errors=np.array(json.dumps(table.errors)),
    )
    os.replace(tmp, file)


def _load(file: Path) -> FaceTable:
    with np.load(file) as z:
        return FaceTable(
            paths=[str(p) for p in z["paths"]],
            image_index=z["image_index"],
            boxes=z["boxes"],
            scores=z["scores"],
            sources=z["sources"],
            descriptors=z["descriptors"],
            sizes=z["sizes"],
            errors=json.loads(str(z["errors"])),
        )
