"""Detector recall and cost: hog, cnn and auto (the default) on LFW, Congress and UTKFace.

    python benchmarks/detectors.py [--data DIR] [--lfw-folds 0,1,2] [--utk 1000]

For each dataset and detector: recall (fraction of images with at least one face) and cost
(mean and median milliseconds of process CPU time per image for detection alone, the image
already decoded, one onnxruntime thread; CPU time is what wall time is on an idle core, and other
processes on a shared machine do not inflate it). LFW: the images of the given folds of
pairs.txt (folds 0-2 are the first three, 2,320 images); "subject" also counts images with a face
near the centre (LFW's subject). Congress: the 290 current portraits. UTKFace: the first N of the
balanced set in label order (every race x gender). Images where HOG missed and auto did not are
listed at the end. Results also go to benchmarks/results/detectors-<datasets>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

from faceledger.datasets import require_dataset
from faceledger.datasets.embed_cache import central_box
from faceledger.datasets.lfw import IMAGE_DIR, read_pairs
from faceledger.engine.detection import DEFAULT_MIN_FACE_SIZE, DETECTORS, FaceDetector
from faceledger.images import load_pixels

RESULTS = Path(__file__).parent / "results"


def lfw_images(data: str | None, folds: list[int]) -> list[Path]:
    lfw = require_dataset("lfw", data)
    names = sorted({n for p in read_pairs(lfw) if p.fold in folds for n in (p.left, p.right)})
    return [lfw / IMAGE_DIR / n for n in names]


def congress_images(data: str | None) -> list[Path]:
    return sorted((require_dataset("congress_current", data) / "images").glob("*.jpg"))


def utk_images(data: str | None, n: int) -> list[Path]:
    root = require_dataset("utkface_balanced", data)
    with (root / "labels.csv").open() as fh:
        files = [row["file"] for row in csv.DictReader(fh)]
    step = max(1, len(files) // n)
    return [root / "images" / f for f in files[::step][:n]]


def measure(paths: list[Path]) -> dict[str, dict[str, object]]:
    detectors = {kind: FaceDetector(kind, threads=1) for kind in DETECTORS}
    out: dict[str, dict[str, object]] = {}
    for kind, det in detectors.items():
        det.detect(load_pixels(paths[0]))  # load the models outside the timing
        ms, found, central, missed = [], 0, 0, []
        for path in paths:
            pixels = load_pixels(path)
            t = time.process_time()
            faces, _ = det.detect(pixels, min_face_size=DEFAULT_MIN_FACE_SIZE)
            ms.append((time.process_time() - t) * 1000)
            h, w = pixels.shape[:2]
            found += bool(faces)
            central += any(
                central_box(f.box.left, f.box.top, f.box.width, f.box.height, w, h) for f in faces
            )
            if not faces:
                missed.append(path.name)
        out[kind] = {
            "images": len(paths),
            "recall": found / len(paths),
            "subject": central / len(paths),
            "ms_mean": statistics.fmean(ms),
            "ms_median": statistics.median(ms),
            "missed": missed,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="folder holding the datasets")
    parser.add_argument("--lfw-folds", default="0,1,2", help="pairs.txt folds, 0-based")
    parser.add_argument("--utk", type=int, default=1000, help="UTKFace images")
    parser.add_argument("--sets", default="LFW,Congress,UTKFace", help="datasets to measure")
    args = parser.parse_args()
    sets = {
        "LFW": lambda: lfw_images(args.data, [int(f) for f in args.lfw_folds.split(",")]),
        "Congress": lambda: congress_images(args.data),
        "UTKFace": lambda: utk_images(args.data, args.utk),
    }
    results: dict[str, object] = {}
    print(
        f"{'dataset':9} {'images':>6} {'detector':8} {'recall':>7} {'subject':>8} "
        f"{'ms mean':>8} {'ms median':>9}"
    )
    for name, paths_of in sets.items():
        if name not in args.sets.split(","):
            continue
        try:
            paths = paths_of()
        except Exception as exc:  # noqa: BLE001 - the other datasets still measure
            print(f"{name}: skipped ({exc})")
            continue
        rows = measure(paths)
        results[name] = rows
        for kind, r in rows.items():
            print(
                f"{name:9} {r['images']:6d} {kind:8} {r['recall']:7.4f} {r['subject']:8.4f} "
                f"{r['ms_mean']:8.1f} {r['ms_median']:9.1f}"
            )
        hog_missed = set(rows["hog"]["missed"])  # type: ignore[arg-type]
        rescued = sorted(hog_missed - set(rows["auto"]["missed"]))  # type: ignore[arg-type]
        print(f"{name}: no HOG face in {len(hog_missed)}, found by auto: {rescued}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"detectors-{'-'.join(results)}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
