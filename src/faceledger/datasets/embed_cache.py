"""Embeddings of an evaluation dataset, computed once on all cores and cached on disk.

For evaluation the images are known to hold a face, so a miss is not accepted silently: HOG
first, then the CNN detector, then a fixed central box (LFW deep-funneled and UTKFace chips are
centred). Every face records which of the three produced it, so reports can count them.
Both the plain and the mirrored-chip descriptors are kept, so variants are compared from one run.
"""

from __future__ import annotations

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
from faceledger.engine.types import BoundingBox
from faceledger.errors import FaceledgerError
from faceledger.images import load_pixels

CACHE_VERSION = 3
FALLBACK_CENTER_FRACTION = 0.45
"""Side of the central fallback box as a fraction of the image's shorter side."""

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
    plain: np.ndarray  # (F,128) float32 descriptor of the chip
    flipped: np.ndarray  # (F,128) float32 descriptor of the mirrored chip
    sizes: np.ndarray  # (I,2) width, height of each image
    errors: dict[str, str]

    def embeddings(self, *, flip: bool) -> np.ndarray:
        return (self.plain + self.flipped) / 2.0 if flip else self.plain

    def select(self, strategy: str = "center") -> np.ndarray:
        """One face row per image (-1 when none): the largest, or the one nearest the centre."""
        chosen = np.full(len(self.paths), -1, dtype=np.int64)
        best = np.full(len(self.paths), np.inf)
        for row, img in enumerate(self.image_index):
            left, top, w, h = self.boxes[row]
            if strategy == "largest":
                key = -float(w * h)
            elif strategy == "center":
                iw, ih = self.sizes[img]
                key = float(np.hypot(left + w / 2 - iw / 2, top + h / 2 - ih / 2))
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
    config = config or EngineConfig()
    key = hashlib.sha256(
        json.dumps(
            [CACHE_VERSION, str(root.resolve()), relative_paths, _config_key(config)]
        ).encode()
    ).hexdigest()[:16]
    file = cache_dir() / "embeddings" / f"{name}-{key}.npz"
    if use_cache and file.exists():
        return _load(file)
    absolute = [str(root / p) for p in relative_paths]
    rows: list[tuple[int, list[float], float, str, np.ndarray, np.ndarray]] = []
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
        for box, score, source, plain, flipped in result["faces"]:
            rows.append((index, box, score, source, plain, flipped))
    table = FaceTable(
        paths=list(relative_paths),
        image_index=np.array([r[0] for r in rows], dtype=np.int64),
        boxes=np.array([r[1] for r in rows], dtype=np.float32).reshape(-1, 4),
        scores=np.array([r[2] for r in rows], dtype=np.float32),
        sources=np.array([r[3] for r in rows], dtype="U8"),
        plain=np.array([r[4] for r in rows], dtype=np.float32).reshape(-1, 128),
        flipped=np.array([r[5] for r in rows], dtype=np.float32).reshape(-1, 128),
        sizes=sizes,
        errors=errors,
    )
    _save(file, table)
    return table


def _config_key(config: EngineConfig) -> list[object]:
    return [config.detector, config.min_face_size, config.max_detect_pixels, config.max_faces]


def _describe_for_eval(engine: Engine, path: str) -> dict[str, object]:
    """Worker task: every face with plain and mirrored descriptors, with the fallback chain."""
    global _cnn
    pixels = load_pixels(path, max_pixels=engine.config.max_pixels)
    faces = engine.detect_pixels(pixels, keep_chips=True)
    if not faces:
        _cnn = _cnn or FaceDetector("cnn", threads=engine.config.threads)
        dets, _ = _cnn.detect(pixels, min_face_size=engine.config.min_face_size)
        dets.sort(key=lambda d: d.box.area, reverse=True)
        faces = engine.faces_at(pixels, [(d.box, d.score, "cnn") for d in dets], keep_chips=True)
    if not faces:
        h, w = pixels.shape[:2]
        side = int(min(h, w) * FALLBACK_CENTER_FRACTION)
        box = BoundingBox((w - side) // 2, (h - side) // 2, side, side)
        faces = engine.faces_at(pixels, [(box, 0.0, "center")], keep_chips=True)
    chips = np.stack([f.chip for f in faces])
    both = engine.descriptor.compute(np.concatenate([chips, chips[:, :, ::-1]]))
    n = len(faces)
    return {
        "size": (pixels.shape[1], pixels.shape[0]),
        "faces": [
            (
                [f.box.left, f.box.top, f.box.width, f.box.height],
                float(f.score),
                f.detector,
                both[i],
                both[n + i],
            )
            for i, f in enumerate(faces)
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
        plain=table.plain,
        flipped=table.flipped,
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
            plain=z["plain"],
            flipped=z["flipped"],
            sizes=z["sizes"],
            errors=json.loads(str(z["errors"])),
        )
