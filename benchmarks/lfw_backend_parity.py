"""Does the onnxruntime path change LFW accuracy? dlib's own network vs onnxruntime, same chips.

    python benchmarks/lfw_backend_parity.py [--data DIR] [--workers 2]

For the 7,701 images of LFW View 2 (the face chosen by benchmarks/lfw_verification.py, from its
cache), cut dlib's 150×150 chip, describe it with dlib (`compute_face_descriptor`, about 75 ms a
face) and take the onnxruntime descriptor of the same chip from the cache, then run the 10-fold
protocol on both. dlib takes several minutes; the raw single-chip model (`dlib-resnet-v1`) is
compared, since every crop of `+tta6` goes through the same network.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceledger.engine.alignment import Aligner
from faceledger.engine.embedding import DlibDescriptor
from faceledger.engine.types import BoundingBox
from faceledger.images import load_pixels

sys.path.insert(0, str(Path(__file__).parent))
from lfw_verification import load_view_two, pair_distances, ten_fold  # noqa: E402

_aligner = Aligner()
_dlib = DlibDescriptor()


def dlib_descriptor(job: tuple[str, list[float]]) -> np.ndarray:
    path, (left, top, width, height) = job
    pixels = load_pixels(path)
    shape = _aligner.shape(pixels, BoundingBox(int(left), int(top), int(width), int(height)))
    return _dlib.compute(_aligner.chips(pixels, shape))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    view = load_view_two(args.data)
    table, index, pairs, rows = view.table, view.index, view.pairs, view.rows
    needed = view.pair_images
    jobs = view.chosen_boxes()
    with ProcessPoolExecutor(args.workers) as pool:
        ref = list(
            tqdm(pool.map(dlib_descriptor, jobs, chunksize=16), total=len(jobs), desc="dlib")
        )
    onnx_vecs = table.descriptors[:, 0].copy()
    dlib_vecs = onnx_vecs.copy()
    for p, vec in zip(needed, ref, strict=True):
        dlib_vecs[rows[index[p]]] = vec
    chosen = np.array([rows[index[p]] for p in needed])
    diff = np.abs(dlib_vecs[chosen] - onnx_vecs[chosen]).max()
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    print(f"{'backend':12} {'LFW 10-fold accuracy %':>24}")
    accs = {}
    for name, vecs in (("dlib", dlib_vecs), ("onnxruntime", onnx_vecs)):
        d = pair_distances(table, index, pairs, rows, vecs)
        accs[name] = ten_fold(d, same, folds)
        print(f"{name:12} {100 * accs[name].mean():17.4f} ± {100 * accs[name].std():.4f}")
    d_dlib = pair_distances(table, index, pairs, rows, dlib_vecs)
    d_onnx = pair_distances(table, index, pairs, rows, onnx_vecs)
    print(
        f"faces compared: {len(needed)}; largest component difference {diff:.2e}; "
        f"largest pair-distance difference {np.abs(d_dlib - d_onnx).max():.2e}; "
        f"accuracy difference {100 * abs(accs['dlib'].mean() - accs['onnxruntime'].mean()):.4f}"
        " points"
    )


if __name__ == "__main__":
    main()
