"""Throughput of the full pipeline (decode, detect, align, embed): faceledger vs face_recognition.

    pip install --no-deps face_recognition   # the baseline, for this benchmark only
    python benchmarks/throughput.py [--data DIR] [--lfw-images 200] [--frames 6]

Two workloads, run by both libraries on the same files in the same run:
- LFW: 250×250 news photos, one main face each (recall = images with a face found);
- 1080p frames: 1920×1080 scenes made of Congress portraits pasted at face sizes from 45 to
  160 px (ground truth known: recall = pasted faces found, matched by centre).
Each with one process and with every core (a process pool). face_recognition runs its defaults:
HOG with one upsampling and the 5-point "small" landmark model, one descriptor per face.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from faceledger import Engine, EngineConfig
from faceledger.cpus import available_cpus
from faceledger.datasets import require_dataset
from faceledger.datasets.lfw import IMAGE_DIR, identities
from faceledger.engine.batch import process_images

FRAME = (1920, 1080)


def make_frames(portraits: list[Path], n: int, out: Path, seed: int = 7) -> list[tuple[Path, list]]:
    """1080p frames of 8 pasted portraits each; returns (path, [(x0, y0, x1, y1) of portrait])."""
    rng = random.Random(seed)
    frames = []
    for k in range(n):
        canvas = Image.new("RGB", FRAME, tuple(rng.randint(40, 200) for _ in range(3)))
        boxes = []
        for col in range(4):
            for row in range(2):
                face_px = rng.randint(45, 160)  # face ≈ 0.3 × portrait width
                img = Image.open(rng.choice(portraits)).convert("RGB")
                scale = face_px / (0.3 * img.width)
                img = img.resize((int(img.width * scale), int(img.height * scale)))
                x = col * 480 + rng.randint(0, max(0, 470 - img.width))
                y = row * 540 + rng.randint(0, max(0, 530 - img.height))
                canvas.paste(img, (x, y))
                boxes.append((x, y, x + img.width, y + img.height))
        path = out / f"frame{k}.jpg"
        canvas.save(path, quality=92)
        frames.append((path, boxes))
    return frames


def faceledger_task(engine: Engine, path: str) -> list[tuple[float, float]]:
    return [f.box.center for f in engine.represent(path)]


def fr_task(path: str) -> list[tuple[float, float]]:
    import face_recognition

    img = face_recognition.load_image_file(path)
    locs = face_recognition.face_locations(img)
    face_recognition.face_encodings(img, locs)
    return [((left + r) / 2, (t + b) / 2) for t, r, b, left in locs]


def run_faceledger(paths: list[str], workers: int) -> tuple[float, list]:
    # One process means one core: onnxruntime would otherwise use every core by itself.
    config = EngineConfig(threads=1)
    t = time.perf_counter()
    out = [
        r
        for _, r in process_images(
            paths, faceledger_task, config=config, workers=workers, progress=False
        )
    ]
    return time.perf_counter() - t, out


def run_fr(paths: list[str], workers: int) -> tuple[float, list]:
    t = time.perf_counter()
    if workers == 1:
        out = [fr_task(p) for p in paths]
    else:
        with ProcessPoolExecutor(workers) as pool:
            out = list(pool.map(fr_task, paths, chunksize=4))
    return time.perf_counter() - t, out


def recall_frames(found: list, truth: list) -> float:
    hit = total = 0
    for centers, boxes in zip(found, truth, strict=True):
        total += len(boxes)
        used = set()
        for x0, y0, x1, y1 in boxes:
            for i, (cx, cy) in enumerate(centers):
                if i not in used and x0 <= cx <= x1 and y0 <= cy <= y1:
                    used.add(i)
                    hit += 1
                    break
    return hit / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data")
    parser.add_argument("--lfw-images", type=int, default=200)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    try:
        import face_recognition  # noqa: F401
    except ImportError:
        raise SystemExit("baseline missing: pip install --no-deps face_recognition") from None

    lfw = require_dataset("lfw", args.data)
    congress = require_dataset("congress_current", args.data)
    everything = [p for v in identities(lfw).values() for p in v]
    lfw_paths = [
        str(lfw / IMAGE_DIR / p) for p in random.Random(1).sample(everything, args.lfw_images)
    ]
    cores = available_cpus()
    with tempfile.TemporaryDirectory() as tmp:
        frames = make_frames(sorted((congress / "images").glob("*.jpg")), args.frames, Path(tmp))
        frame_paths = [str(p) for p, _ in frames]
        truth = [b for _, b in frames]
        # Warm up both (model loading is not throughput).
        run_faceledger(lfw_paths[:2], 1)
        run_fr(lfw_paths[:2], 1)
        print(
            f"{'workload':22} {'library':15} {'procs':>5} {'images/s':>9} {'faces/s':>8} "
            f"{'recall':>7} {'ratio':>6}"
        )
        for name, paths in (("LFW 250×250", lfw_paths), ("1080p, 8 faces", frame_paths)):
            for workers in sorted({1, cores}):
                rows: dict[str, tuple[float, list]] = {}
                runners: dict[str, Callable] = {
                    "faceledger": run_faceledger,
                    "face_recognition": run_fr,
                }
                for lib, runner in runners.items():
                    rows[lib] = runner(paths, workers)
                base = len(paths) / rows["face_recognition"][0]
                for lib, (secs, out) in rows.items():
                    faces = sum(len(o) for o in out)
                    if name.startswith("LFW"):
                        recall = float(np.mean([len(o) > 0 for o in out]))
                    else:
                        recall = recall_frames(out, truth)
                    ips = len(paths) / secs
                    print(
                        f"{name:22} {lib:15} {workers:5d} {ips:9.2f} {faces / secs:8.2f} "
                        f"{recall:7.3f} {ips / base:5.2f}×"
                    )


if __name__ == "__main__":
    main()
