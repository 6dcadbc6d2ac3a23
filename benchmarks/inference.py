"""dlib vs onnxruntime, side by side in one run: speed, descriptor parity, detector agreement.

    python benchmarks/inference.py [--data DIR] --n-faces 500

Prints one table.  Timings are medians over repeats (and the load average is printed,
because other processes on the machine inflate both columns alike).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dlib
import face_recognition_models as frm
import numpy as np
from PIL import Image

from faceledger.cpus import available_cpus
from faceledger.datasets import require_dataset
from faceledger.datasets.lfw import IMAGE_DIR
from faceledger.engine.onnx import OnnxDescriptor, OnnxDescriptorInt8, OnnxMmodDetector

Box = tuple[int, int, int, int]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def median_ms(fn: Callable[[], object], repeats: int, per: int = 1) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000 / per)
    return statistics.median(times)


def cpu_ms(fn: Callable[[], object], repeats: int, per: int = 1) -> float:
    """Median process CPU time: for 1-thread runs it is what wall time would be on an idle
    machine, since other processes competing for the cores do not inflate it."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000 / per)
    return statistics.median(times)


def lfw_paths(lfw: Path) -> list[Path]:
    root = lfw / IMAGE_DIR
    people = sorted(p for p in root.iterdir() if p.is_dir())
    return [img for p in people for img in sorted(p.glob("*.jpg"))[:1]]


def collect_chips(paths: list[Path], n: int) -> np.ndarray:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    chips = []
    for path in paths:
        img = rgb(path)
        dets = detector(img, 1)
        if dets:
            chips.append(dlib.get_face_chip(img, predictor(img, dets[0]), 150, 0.25))
            if len(chips) % 100 == 0:
                log(f"  chips: {len(chips)}/{n}")
        if len(chips) == n:
            break
    return np.stack(chips)


def iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(iw, 0) * max(ih, 0)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area_a + area_b - inter)


def pairwise(e: np.ndarray) -> np.ndarray:
    e = e.astype(np.float64)
    sq = (e * e).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0))


def detector_agreement(paths: list[Path], ref, ours: OnnxMmodDetector) -> dict[str, float]:
    n_img = same_count = all_match = faces_ref = faces_ours = 0
    ious: list[float] = []
    conf_diff = 0.0
    for i, path in enumerate(paths):
        img = rgb(path)
        want = [
            ((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
            for d in ref(img, 0)
        ]
        got = ours.detect(img, 0)
        n_img += 1
        faces_ref += len(want)
        faces_ours += len(got)
        ok = len(got) == len(want)
        same_count += ok
        for g_rect, g_conf in got:
            best = max(want, key=lambda w, g=g_rect: iou(g, w[0]), default=None)
            if best is None:
                ok = False
                continue
            ious.append(iou(g_rect, best[0]))
            conf_diff = max(conf_diff, abs(g_conf - best[1]))
            ok = ok and ious[-1] >= 0.95
        all_match += ok
        if (i + 1) % 50 == 0:
            log(f"  detector agreement: {i + 1}/{len(paths)} images")
    return {
        "images": n_img,
        "faces_dlib": faces_ref,
        "faces_onnx": faces_ours,
        "images_same_count": same_count,
        "images_all_iou>=0.95": all_match,
        "min_iou": min(ious) if ious else float("nan"),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "max_conf_diff": conf_diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", help="folder holding lfw/ and congress_current/ (default: data root)")
    ap.add_argument("--n-faces", type=int, default=500)
    ap.add_argument("--n-detect-lfw", type=int, default=200)
    ap.add_argument("--n-congress", type=int, default=290)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    lfw = require_dataset("lfw", args.data)
    congress_dir = require_dataset("congress_current", args.data)
    os.environ.setdefault("FACELEDGER_CACHE_DIR", tempfile.mkdtemp(prefix="faceledger-bench-"))
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, dlib_v: float | None, onnx_v: float, unit: str, higher_better=False):
        if dlib_v is None:
            rows.append((name, "", f"{onnx_v:.4g} {unit}", ""))
            return
        ratio = onnx_v / dlib_v if higher_better else dlib_v / onnx_v
        rows.append((name, f"{dlib_v:.4g} {unit}", f"{onnx_v:.4g} {unit}", f"{ratio:.1f}x"))

    log(f"load average at start: {os.getloadavg()}")
    all_lfw = lfw_paths(lfw)
    log("collecting aligned chips (dlib HOG + 5-point + get_face_chip)")
    chips = collect_chips(all_lfw, args.n_faces)

    # --- descriptor speed -------------------------------------------------------------
    log("descriptor timings")
    ref_desc = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    one = OnnxDescriptor(threads=1)
    two = OnnxDescriptor(threads=2)
    few = chips[:8]
    d_single = median_ms(
        lambda: [ref_desc.compute_face_descriptor(c) for c in few], args.repeats, len(few)
    )
    o_single = median_ms(lambda: [one.compute(c[None]) for c in few], args.repeats, len(few))
    row("descriptor ms/face, 1 face per call, 1 thread", d_single, o_single, "ms")
    batch = chips[:64]
    o_batch1 = median_ms(lambda: one.compute(batch), args.repeats, len(batch))
    row("descriptor ms/face, batch 16, 1 thread", None, o_batch1, "ms")
    d_cpu = cpu_ms(lambda: [ref_desc.compute_face_descriptor(c) for c in few], 3, len(few))
    o_cpu = cpu_ms(lambda: [one.compute(c[None]) for c in few], args.repeats, len(few))
    row("descriptor CPU-ms/face, 1 face per call, 1 thread", d_cpu, o_cpu, "ms")
    d_batch = median_ms(lambda: ref_desc.compute_face_descriptor(list(batch)), 3, len(batch))
    o_batch2 = median_ms(lambda: two.compute(batch), args.repeats, len(batch))
    row(
        "descriptor faces/s, batched, 2 cores",
        1000 / d_batch,
        1000 / o_batch2,
        "faces/s",
        higher_better=True,
    )

    # --- detector speed ---------------------------------------------------------------
    log("detector timings")
    ref_det = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    det2 = OnnxMmodDetector(threads=2)
    det1 = OnnxMmodDetector(threads=1)
    congress = sorted((congress_dir / "images").glob("*.jpg"))
    img512 = np.asarray(Image.open(congress[0]).convert("RGB").resize((512, 512)))
    d_det = median_ms(lambda: ref_det(img512, 0), 3)
    row(
        "CNN detection ms, 512x512, 2 threads",
        d_det,
        median_ms(lambda: det2.detect(img512), args.repeats),
        "ms",
    )
    row(
        "CNN detection ms, 512x512, 1 thread",
        None,
        median_ms(lambda: det1.detect(img512), args.repeats),
        "ms",
    )
    row(
        "CNN detection CPU-ms, 512x512, 1 thread",
        cpu_ms(lambda: ref_det(img512, 0), 3),
        cpu_ms(lambda: det1.detect(img512), args.repeats),
        "ms",
    )

    # --- descriptor parity ------------------------------------------------------------
    log(f"descriptor parity on {len(chips)} faces (dlib is the slow half)")
    ref_emb = np.array([np.array(v) for v in ref_desc.compute_face_descriptor(list(chips))])
    our_emb = two.compute(chips)
    comp_diff = float(np.abs(our_emb - ref_emb).max())
    d_ref, d_our = pairwise(ref_emb), pairwise(our_emb)
    dist_diff = float(np.abs(d_ref - d_our).max())
    iu = np.triu_indices(len(chips), 1)
    flips = int(((d_ref[iu] < 0.6) != (d_our[iu] < 0.6)).sum())
    rows.append((f"embedding max |diff| ({len(chips)} LFW faces)", "", f"{comp_diff:.2e}", ""))
    rows.append((f"pairwise distance max |diff| ({len(iu[0])} pairs)", "", f"{dist_diff:.2e}", ""))
    rows.append(("pairs whose <0.6 verdict differs", "", str(flips), ""))

    # --- int8 variant -----------------------------------------------------------------
    log("int8 descriptor: calibrating on 64 chips from other LFW people")
    calib = collect_chips(all_lfw[::-1], 64)
    q8 = OnnxDescriptorInt8(calibration_chips=calib, threads=1)
    row(
        "int8 descriptor ms/face, batch 16, 1 thread",
        None,
        median_ms(lambda: q8.compute(batch), args.repeats, len(batch)),
        "ms",
    )
    q_emb = q8.compute(chips)
    d_q = pairwise(q_emb)
    rows.append(
        ("int8 embedding max |diff| vs dlib", "", f"{np.abs(q_emb - ref_emb).max():.2e}", "")
    )
    rows.append(
        (
            "int8 pairwise distance max / mean |diff|",
            "",
            f"{np.abs(d_q - d_ref).max():.3f} / {np.abs(d_q - d_ref)[iu].mean():.4f}",
            "",
        )
    )
    q_flips = int(((d_ref[iu] < 0.6) != (d_q[iu] < 0.6)).sum())
    rows.append(("int8 pairs whose <0.6 verdict differs", "", f"{q_flips} of {len(iu[0])}", ""))

    # --- detector agreement -----------------------------------------------------------
    step = max(1, len(all_lfw) // max(args.n_detect_lfw, 1))
    det_paths = all_lfw[::step][: args.n_detect_lfw] + congress[: args.n_congress]
    log(f"detector agreement on {len(det_paths)} images")
    agree = detector_agreement(det_paths, ref_det, det2)
    for key, value in agree.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((f"detector {key}", "", shown, ""))

    # --- table --------------------------------------------------------------------------
    widths = [
        max(len(r[i]) for r in rows + [("metric", "dlib", "onnxruntime", "speed-up")])
        for i in range(4)
    ]
    header = ("metric", "dlib", "onnxruntime", "speed-up")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"\nload average at end: {os.getloadavg()}; cores: {os.cpu_count()}, "
        f"usable by this process: {available_cpus()}"
    )


if __name__ == "__main__":
    main()
