"""LFW View 2 verification (the official 10-fold protocol) and the similarity-threshold table.

    python benchmarks/lfw_verification.py [--data DIR] [--markdown] [--default-only]

First, **the library's default path**: every image of the 6,000 pairs goes through
``Engine().represent(path)`` (the public API, default configuration: detector ``auto``, model
``dlib-resnet-v1+tta6``), in worker processes that each build that Engine; each image's subject is
the returned face nearest the image centre (LFW's protocol: the subject is centred), and a pair
with an image where the Engine returns no face counts as a non-match, never dropped. The
10-fold accuracy (threshold chosen on 9 folds, accuracy on the 10th) and TAR at FAR = 1e-3 are
printed for that, for the largest returned face instead, and for HOG alone (the faces of the same
run that HOG found: ``auto`` only adds CNN faces, and a face's embedding depends only on its box).
Cached under the user cache folder; a rerun takes seconds. This is the README's headline figure.

Then (unless ``--default-only``), the evaluation-chain ablation, on every LFW image (cached):
1. each step's 10-fold accuracy, mean ± std, and TAR at FAR = 1e-3 over the 6,000 pairs;
2. the similarity table: for similarity thresholds 80…99.9, the FMR and FNMR on LFW (all
   genuine pairs of all identities, 2,000,000 sampled impostor pairs) and the FMR on all pairs of
   the 5,000 UTKFace adults (every pair presumed impostor).
There, images where HOG finds no face go through the CNN detector, then a central box; they are
counted and listed, never dropped. Results are also written to
benchmarks/results/lfw_verification.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.datasets import require_dataset
from faceledger.datasets.embed_cache import FaceTable, cache_dir, embed_images
from faceledger.datasets.lfw import IMAGE_DIR, Pair, identities, read_pairs
from faceledger.engine.batch import process_images
from faceledger.engine.core import Engine, EngineConfig
from faceledger.engine.embedding import tta_combine
from faceledger.engine.similarity import DEFAULT_THRESHOLD, distance_from_similarity

THRESHOLDS = (50.0, 80.0, 90.0, 95.0, 99.0, 99.9)
ALL = ("hog", "cnn", "center")
RESULTS = Path(__file__).parent / "results"


@dataclass
class ViewTwo:
    """LFW View 2 with the cached faces of every LFW image: what the LFW benchmarks share."""

    root: Path
    table: FaceTable
    index: dict[str, int]  # image path → index into table.paths
    pairs: list[Pair]
    rows: np.ndarray  # the face chosen for each image (nearest the centre, any detector)

    @property
    def pair_images(self) -> list[str]:
        return sorted({p.left for p in self.pairs} | {p.right for p in self.pairs})

    def chosen_boxes(self) -> list[tuple[str, list[float]]]:
        """(absolute path, chosen face box) of every pair image, in ``pair_images`` order."""
        return [
            (str(self.root / IMAGE_DIR / p), self.table.boxes[self.rows[self.index[p]]].tolist())
            for p in self.pair_images
        ]


def load_view_two(data: str | None, workers: int | None = None) -> ViewTwo:
    lfw = require_dataset("lfw", data)
    paths = [p for v in identities(lfw).values() for p in v]
    table = embed_images(lfw / IMAGE_DIR, paths, name="lfw", workers=workers)
    index = {p: i for i, p in enumerate(paths)}
    return ViewTwo(lfw, table, index, read_pairs(lfw), table.select("center"))


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """Distance threshold maximising accuracy (match iff distance < threshold)."""
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order]
    finite = np.isfinite(d)
    # Accepting the first i pairs: correct = genuine among them + impostors after them.
    genuine_before = np.concatenate([[0], np.cumsum(s)])
    impostor_after = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = genuine_before + impostor_after
    candidates = np.concatenate([[d[0] - 1e-6], (d[:-1] + d[1:]) / 2, [d[-1] + 1e-6]])
    correct = np.where(np.concatenate([[True], finite]), correct, -1)
    return float(candidates[int(np.argmax(correct))])


def ten_fold(dist: np.ndarray, same: np.ndarray, folds: np.ndarray) -> np.ndarray:
    accs = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        thr = best_threshold(dist[train], same[train])
        accs.append(float(((dist[test] < thr) == same[test]).mean()))
    return np.array(accs)


def tar_at_far(dist: np.ndarray, same: np.ndarray, far: float) -> tuple[float, int]:
    impostor = np.sort(dist[~same])
    allowed = int(math.floor(far * len(impostor)))
    thr = impostor[allowed] if allowed < len(impostor) else np.inf  # accept strictly below
    return float((dist[same] < thr).mean()), allowed


def pair_distances(
    table: FaceTable, index: dict[str, int], pairs, rows: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """Distance of each pair's chosen faces; a pair with a missing face gets +inf (no match)."""
    left = rows[[index[p.left] for p in pairs]]
    right = rows[[index[p.right] for p in pairs]]
    ok = (left >= 0) & (right >= 0)
    out = np.full(len(pairs), np.inf)
    out[ok] = np.linalg.norm(vectors[left[ok]] - vectors[right[ok]], axis=1)
    return out


def rate(k: int, n: int) -> dict[str, float | int]:
    """A rate with its count and a 95 % upper bound when nothing was observed (rule of three)."""
    return {
        "k": int(k),
        "n": int(n),
        "rate": k / n if n else float("nan"),
        "upper95_if_zero": (3.0 / n) if (k == 0 and n) else None,
    }


def lfw_genuine_impostor(
    table: FaceTable, paths: list[str], *, tta: bool, seed: int = 20261126
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of all genuine pairs and of 2,000,000 sampled impostor pairs of LFW."""
    rows = table.select("center")
    emb = table.embeddings(tta=tta)
    ident = np.array([p.split("/")[0] for p in paths])
    vec = emb[rows]
    # All genuine pairs of every identity with two or more images.
    genuine: list[np.ndarray] = []
    by_id: dict[str, list[int]] = {}
    for i, name in enumerate(ident):
        by_id.setdefault(name, []).append(i)
    for members in by_id.values():
        if len(members) > 1:
            m = vec[members]
            d = np.linalg.norm(m[:, None, :] - m[None, :, :], axis=-1)
            genuine.append(d[np.triu_indices(len(members), 1)])
    gen = np.concatenate(genuine)
    rng = np.random.default_rng(seed)
    n_imp = 2_000_000
    a = rng.integers(0, len(paths), n_imp * 2)
    b = rng.integers(0, len(paths), n_imp * 2)
    keep = ident[a] != ident[b]
    a, b = a[keep][:n_imp], b[keep][:n_imp]
    return gen, np.linalg.norm(vec[a] - vec[b], axis=1)


def similarity_table(
    gen: np.ndarray, imp: np.ndarray, utk: FaceTable | None
) -> list[dict[str, object]]:
    utk_counts = None
    if utk is not None:
        utk_counts = _all_pair_distances(utk.embeddings()[utk.select("center")])
    out = []
    for s in THRESHOLDS:
        d = distance_from_similarity(s)
        entry: dict[str, object] = {
            "similarity": s,
            "distance": round(d, 4),
            "lfw_fmr": rate(int((imp <= d).sum()), len(imp)),
            "lfw_fnmr": rate(int((gen > d).sum()), len(gen)),
        }
        if utk_counts is not None:
            entry["utk_fmr"] = rate(int((utk_counts <= d).sum()), len(utk_counts))
        out.append(entry)
    return out


def _all_pair_distances(v: np.ndarray) -> np.ndarray:
    sq = (v * v).sum(1)
    out = []
    for start in range(0, len(v), 1000):
        block = v[start : start + 1000]
        d2 = sq[start : start + 1000, None] + sq[None, :] - 2 * block @ v.T
        i, j = np.triu_indices(len(v), 1)
        sel = (i >= start) & (i < start + len(block))
        out.append(np.sqrt(np.maximum(d2[i[sel] - start, j[sel]], 0)))
    return np.concatenate(out)


def _represent(engine: Engine, path: str) -> dict[str, object]:
    """Worker task: exactly ``engine.represent(path)`` of the default Engine, kept compactly."""
    faces = engine.represent(path)
    return {
        "model_id": engine.model_id,
        "faces": [
            (
                [f.box.left, f.box.top, f.box.width, f.box.height],
                f.detector,
                np.asarray(f.embedding, dtype=np.float32),
            )
            for f in faces
        ],
    }


def default_path_faces(lfw: Path, images: list[str], workers: int | None) -> dict[str, list]:
    """``Engine().represent`` of each image: image → [(box, detector, embedding)].

    Cached one line per image as it is computed, so an interrupted run resumes where it stopped.
    """
    key = hashlib.sha256(json.dumps([repr(EngineConfig()), str(lfw)]).encode()).hexdigest()[:16]
    file = cache_dir() / "embeddings" / f"lfw-default-path-{key}.jsonl"
    out: dict[str, list] = {}
    if file.exists():
        for line in file.read_text().splitlines():
            try:
                name, found = json.loads(line)
            except ValueError:  # a line cut short by an interruption
                continue
            out[name] = [(b, d, np.array(e, np.float32)) for b, d, e in found]
    todo = [p for p in images if p not in out]
    if not todo:
        return out
    file.parent.mkdir(parents=True, exist_ok=True)
    absolute = [str(lfw / IMAGE_DIR / p) for p in todo]
    results = process_images(absolute, _represent, config=None, workers=workers, desc="Engine()")
    with file.open("a") as fh:
        for name, (_path, result) in zip(todo, results, strict=True):
            if isinstance(result, Exception):
                raise SystemExit(f"{name}: {result}")
            found = result["faces"]  # type: ignore[index]
            out[name] = found
            fh.write(json.dumps([name, [(b, d, e.tolist()) for b, d, e in found]]) + "\n")
            fh.flush()
    return out


def default_path(
    lfw: Path, pairs: list[Pair], workers: int | None, folds: int = 10
) -> dict[str, object]:
    """10-fold accuracy of the default ``Engine()`` on View 2 (see the module docstring), or
    cross-validated over the first ``folds`` folds only (a quicker, noisier figure)."""
    pairs = [p for p in pairs if p.fold < folds]
    images = list(dict.fromkeys(n for p in pairs for n in (p.left, p.right)))  # fold order
    t0 = time.perf_counter()
    cached = default_path_faces(lfw, images, workers)
    faces = {p: cached[p] for p in images}
    seconds = time.perf_counter() - t0
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    size = 250  # every LFW deep-funneled image is 250 × 250

    def pick(found: list, how: str) -> np.ndarray | None:
        if not found:
            return None
        if how == "largest":  # the Engine returns faces largest first
            return found[0][2]
        centre = [
            np.hypot(b[0] + b[2] / 2 - size / 2, b[1] + b[3] / 2 - size / 2) for b, *_ in found
        ]
        return found[int(np.argmin(centre))][2]

    rows = {}
    print(f"LFW View 2 through Engine() (default config), {len(images)} images, {len(pairs)} pairs")
    print(f"{'face used':44} {'accuracy %':>16} {'TAR@FAR=1e-3':>13} {'no face':>8}")
    for label, how, keep in (
        ("auto (default), face nearest the centre", "center", ("hog", "cnn")),
        ("auto (default), largest face", "largest", ("hog", "cnn")),
        ("HOG alone, face nearest the centre", "center", ("hog",)),
    ):
        vec = {p: pick([f for f in fs if f[1] in keep], how) for p, fs in faces.items()}
        dist = np.array(
            [
                np.inf
                if vec[p.left] is None or vec[p.right] is None
                else float(np.linalg.norm(vec[p.left] - vec[p.right]))
                for p in pairs
            ]
        )
        accs = ten_fold(dist, same, folds)
        tar, _ = tar_at_far(dist, same, 1e-3)
        missing = sorted(p for p, v in vec.items() if v is None)
        print(
            f"{label:44} {100 * accs.mean():8.2f} ± {100 * accs.std():.2f} "
            f"{100 * tar:12.2f}% {len(missing):8d}"
        )
        rows[label] = {
            "fold_accuracy": accs.tolist(),
            "mean": accs.mean(),
            "std": accs.std(),
            "errors": int(round((1 - accs.mean()) * len(pairs))),
            "tar_at_far_1e-3": tar,
            "images_without_face": missing,
        }
    cnn = sum(any(f[1] == "cnn" for f in fs) for fs in faces.values())
    print(f"images with a face from the CNN (auto): {cnn}; faces computed in {seconds:.0f} s\n")
    return {"engine_config": repr(EngineConfig()), "rows": rows, "images_with_cnn_face": cnn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", help="folder holding lfw/ (default: $FACELEDGER_DATA or ../shared/data)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--calibrate", action="store_true", help="print the distances at LFW FMR 1e-3 and 1e-4"
    )
    parser.add_argument(
        "--default-only", action="store_true", help="only the default Engine() path"
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=10,
        help="default path only on the first N folds (cross-validated among them)",
    )
    args = parser.parse_args()

    lfw = require_dataset("lfw", args.data)
    headline = default_path(lfw, read_pairs(lfw), args.workers, args.folds)
    RESULTS.mkdir(exist_ok=True)
    if args.default_only:
        (RESULTS / "lfw_default_path.json").write_text(
            json.dumps(headline, indent=2, default=float)
        )
        return
    paths = [p for v in identities(lfw).values() for p in v]
    t0 = time.perf_counter()
    table = embed_images(lfw / IMAGE_DIR, paths, name="lfw", workers=args.workers)
    embed_s = time.perf_counter() - t0
    index = {p: i for i, p in enumerate(paths)}
    pairs = read_pairs(lfw)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    pair_images = sorted({p.left for p in pairs} | {p.right for p in pairs})

    raw = table.descriptors
    variants = [
        ("dlib pipeline: largest HOG face, 1 chip, raw", ("largest", ("hog",)), raw[:, 0]),
        ("+ CNN, then a central box, when no central face", ("largest", ALL), raw[:, 0]),
        ("+ the face nearest the centre", ("center", ALL), raw[:, 0]),
        ("+ unit length", ("center", ALL), tta_combine(raw[:, [0]])),
        ("+ mirrored chip", ("center", ALL), tta_combine(raw[:, [0, 3]])),
        ("+ crops at padding 0.2 and 0.3 (default: tta6)", ("center", ALL), tta_combine(raw)),
    ]
    results: dict[str, object] = {
        "default_path": headline,
        "embedding_seconds": round(embed_s, 1),
        "variants": [],
    }
    print("evaluation-chain ablation (HOG, then CNN, then a central box; all LFW images cached)")
    print(
        f"LFW View 2, {len(pairs)} pairs in 10 folds; {len(pair_images)} images "
        f"(embeddings {'from cache' if embed_s < 60 else 'computed'} in {embed_s:.0f} s)\n"
    )
    print(f"{'pipeline step':50} {'accuracy %':>16} {'TAR@FAR=1e-3':>13}")
    for label, (strategy, sources), vectors in variants:
        rows = table.select(strategy, sources)
        dist = pair_distances(table, index, pairs, rows, vectors)
        accs = ten_fold(dist, same, folds)
        tar, _ = tar_at_far(dist, same, 1e-3)
        print(f"{label:50} {100 * accs.mean():8.2f} ± {100 * accs.std():.2f} {100 * tar:12.2f}%")
        results["variants"].append(
            {
                "label": label,
                "strategy": strategy,
                "sources": sources,
                "fold_accuracy": accs.tolist(),
                "mean": accs.mean(),
                "std": accs.std(),
                "tar_at_far_1e-3": tar,
            }
        )
    print(
        "published figure for dlib-resnet-v1: 99.38 % (100 jitters, original LFW images; "
        "benchmarks/lfw_dlib_recipe.py runs that recipe here)"
    )

    rows = table.select("center")
    counts = table.source_counts(np.array([rows[index[p]] for p in pair_images]))
    fallback_images = sorted(p for p in pair_images if table.sources[rows[index[p]]] != "hog")
    fallback_pairs = [
        {"fold": p.fold, "left": p.left, "right": p.right, "same": p.same}
        for p in pairs
        if p.left in fallback_images or p.right in fallback_images
    ]
    print(f"\nface source for the {len(pair_images)} pair images: {counts}")
    print(
        f"pairs touching a fallback face: {len(fallback_pairs)} (listed in the JSON); none dropped"
    )
    results["face_sources"] = counts
    results["fallback_images"] = {p: str(table.sources[rows[index[p]]]) for p in fallback_images}
    results["fallback_pairs"] = fallback_pairs

    utk = None
    try:
        utk_dir = require_dataset("utkface_balanced", args.data)
        with (utk_dir / "labels.csv").open() as fh:
            utk_paths = [row["file"] for row in csv.DictReader(fh)]
        utk = embed_images(utk_dir / "images", utk_paths, name="utkface", workers=args.workers)
    except Exception as exc:  # noqa: BLE001 - the table is still useful without UTKFace
        print(f"UTKFace skipped: {exc}")
    if args.calibrate:
        for tta in (True, False):
            _, imp_d = lfw_genuine_impostor(table, paths, tta=tta)
            d90, d99 = np.quantile(imp_d, [1e-3, 1e-4])
            print(f"calibration {table.model_id(tta=tta)}: d90={d90:.3f} d99={d99:.3f}")
    gen, imp = lfw_genuine_impostor(table, paths, tta=True)
    sim = similarity_table(gen, imp, utk)
    results["similarity_table"] = sim
    print("\nsimilarity threshold → error rates (match iff similarity ≥ threshold)")
    print(f"{'sim':>5} {'dist':>6} {'LFW FMR':>22} {'LFW FNMR':>22} {'UTKFace FMR':>24}")
    for e in sim:
        print(
            f"{e['similarity']:5g} {e['distance']:6.3f} {_fmt(e['lfw_fmr']):>22} "
            f"{_fmt(e['lfw_fnmr']):>22} {_fmt(e.get('utk_fmr')):>24}"
        )
    print(f"default threshold: {DEFAULT_THRESHOLD:g}")
    if args.markdown:
        print("\n| similarity ≥ | distance ≤ | FMR, LFW | FNMR, LFW | FMR, UTKFace adults |")
        print("| --- | --- | --- | --- | --- |")
        for e in sim:
            print(
                f"| {e['similarity']:g} | {e['distance']:.3f} | {_fmt(e['lfw_fmr'])} | "
                f"{_fmt(e['lfw_fnmr'])} | {_fmt(e.get('utk_fmr'))} |"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lfw_verification.json").write_text(json.dumps(results, indent=2, default=float))


def _fmt(r: dict | None) -> str:
    if not r:
        return "n/a"
    if r["k"] == 0:
        return f"0 / {r['n']:,} (< {r['upper95_if_zero']:.1e})"
    return f"{r['rate']:.2e} ({r['k']:,}/{r['n']:,})"


if __name__ == "__main__":
    main()
