"""The constants of ``engine.arcface.FROM_FIVE``: ArcFace's five points estimated from dlib's
5-point landmarks, fitted against dlib's 68-point predictor, and how far the estimate moves the
112×112 chip.

    python benchmarks/arcface_points.py [--data DIR] [--lfw 600]

Reads the Congress portraits (congress_current/images) and the first image of the first
``--lfw`` LFW people from the data root. The 68-point model (in ``face_recognition_models``;
research-only licence) is used here only to measure: the product uses the 5-point model.
Measured 2026-12-03 on 290 Congress + 600 LFW faces: chip displacement 2.23 px mean, 1.98
median, 4.62 95th percentile; per point (template pixels) eyes 0.68/0.67, nose 1.76, mouth
corners 4.08/3.92 (a constant mouth gives 4.49/4.43).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from faceledger import Engine
from faceledger.datasets import data_root
from faceledger.engine.arcface import TEMPLATE_112, five_points, similarity_transform


def landmarks(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    import dlib
    import face_recognition_models as frm

    p5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    p68 = dlib.shape_predictor(frm.pose_predictor_model_location())
    engine = Engine()
    five, sixty_eight = [], []
    for f in files:
        px = np.asarray(Image.open(f).convert("RGB"))
        faces = engine.detect_pixels(px)
        if not faces:
            continue
        b = faces[0].box
        r = dlib.rectangle(b.left, b.top, b.right - 1, b.bottom - 1)
        five.append([[p.x, p.y] for p in p5(px, r).parts()])
        sixty_eight.append([[p.x, p.y] for p in p68(px, r).parts()])
    return np.array(five, float), np.array(sixty_eight, float)


def frame(p5: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    e1, e2 = p5[[0, 1]].mean(0), p5[[2, 3]].mean(0)
    left, right = (e1, e2) if e1[0] < e2[0] else (e2, e1)
    x = right - left
    d = float(np.linalg.norm(x))
    x = x / d
    return (left + right) / 2, x, np.array([-x[1], x[0]]), d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data")
    ap.add_argument("--lfw", type=int, default=600)
    args = ap.parse_args()
    root = data_root(args.data)
    assert root is not None, "no data root"
    files = sorted((root / "congress_current" / "images").glob("*.jpg"))
    files += sorted((root / "lfw" / "lfw-deepfunneled").glob("*/*_0001.jpg"))[: args.lfw]
    a, c = landmarks(files)
    features, targets = [], []
    for p5, p68 in zip(a, c, strict=True):
        o, x, y, d = frame(p5)
        axes = np.stack([x, y], axis=1) / d
        nb = (p5[4] - o) @ axes
        features.append([1.0, nb[0], nb[1]])
        targets.append(((five_points(p68) - o) @ axes).reshape(-1))
    f, t = np.array(features), np.array(targets)
    w, *_ = np.linalg.lstsq(f, t, rcond=None)
    print("FROM_FIVE =", np.round(w.T, 4).tolist())
    err = np.linalg.norm((f @ w - t).reshape(len(f), 5, 2), axis=-1) * 35.24  # template px
    print(f"{len(f)} faces; per-point error (template px): {err.mean(0).round(2).tolist()}")
    grid = np.stack(np.meshgrid(np.linspace(0, 111, 8), np.linspace(0, 111, 8)), -1).reshape(-1, 2)
    moved = []
    for p5, p68 in zip(a, c, strict=True):
        m1 = similarity_transform(five_points(p5), TEMPLATE_112)
        m2 = similarity_transform(five_points(p68), TEMPLATE_112)
        back = (grid - m1[:, 2]) @ np.linalg.inv(m1[:, :2]).T
        moved.append(np.linalg.norm(back @ m2[:, :2].T + m2[:, 2] - grid, axis=1).mean())
    moved_a = np.array(moved)
    print(
        f"chip displacement (px of 112): mean {moved_a.mean():.2f}, median "
        f"{np.median(moved_a):.2f}, p95 {np.percentile(moved_a, 95):.2f}"
    )


if __name__ == "__main__":
    main()
