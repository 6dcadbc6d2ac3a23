"""Label-free score normalisation (``engine.scoring``), raw vs normalised, on held-out faces.

The same code as ``faceledger fairness audit --calibrate`` (``fairness.calibration.run``):
two-fold cross-fitting, subjects split by a seeded hash; a scoring fitted on one half of LFW +
UTKFace (no demographic label used) scores the other half. Prints, per race × gender group of
UTKFace (and LFW, and the children's set when cached), FMR at similarity 99 raw and normalised
with the largest/smallest ratio, and LFW TAR at FAR 1e-3.

    python benchmarks/normalization.py                  # LFW sample of 3,000 + UTKFace
    python benchmarks/normalization.py --seeds 0,1,2    # three different splits
    python benchmarks/normalization.py --lfw-images 0 --embed   # all of LFW (embeds, ~30 CPU-min)

Embeddings come from the evaluation cache (``datasets.embed_cache``); a dataset not cached stops
the run with the command that fills it (``--embed`` computes it here).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

from faceledger.datasets import require_dataset
from faceledger.datasets.embed_cache import cache_file, cached_table, embed_images
from faceledger.engine.scoring import N_CLUSTERS, ROUNDS, TARGET_FMR
from faceledger.engine.similarity import DEFAULT_MODEL_ID, distance_from_similarity
from faceledger.errors import FaceledgerError
from faceledger.fairness import calibration
from faceledger.fairness.audit import AuditResult
from faceledger.fairness.datasets import AuditSet, load


def embeddings(s: AuditSet, *, embed: bool) -> np.ndarray:
    table = (
        embed_images(s.root, s.paths, name=s.name)
        if embed
        else cached_table(s.root, s.paths, name=s.name)
    )
    if table is None:
        raise SystemExit(
            f"benchmarks/normalization.py: {s.name} ({len(s):,} images) is not cached (no "
            f"{cache_file(s.root, s.paths, name=s.name)}); rerun with --embed to compute it"
        )
    rows = table.select("center")
    vectors = table.embeddings()
    out = np.full((len(s), 128), np.nan)
    out[rows >= 0] = vectors[rows[rows >= 0]]
    return out


def lfw_sample(data: str | None, images: int) -> AuditSet:
    """All LFW, or the seeded sample ``benchmarks/search.py --lfw-images N`` embeds (same
    cache entry)."""
    lfw = load("lfw", data)
    if not images:
        return lfw
    keep = set(random.Random(0).sample(lfw.paths, min(images, len(lfw.paths))))
    return lfw.subset([i for i, p in enumerate(lfw.paths) if p in keep])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", help="folder holding lfw/, utkface_balanced/ (default: shared)")
    p.add_argument("--lfw-images", type=int, default=3000, help="seeded LFW sample; 0: all")
    p.add_argument("--children", action="store_true", help="also the children's set")
    p.add_argument("--seeds", default="0", help="comma-separated split seeds")
    p.add_argument("--clusters", type=int, default=N_CLUSTERS)
    p.add_argument("--target-fmr", type=float, default=TARGET_FMR)
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--embed", action="store_true", help="compute embeddings not cached")
    p.add_argument(
        "--speed", type=int, default=0, metavar="N",
        help="only time exact search of N faces (LFW sample + noise), raw vs normalised",
    )  # fmt: skip
    args = p.parse_args()
    if args.speed:
        speed(args.data, args.lfw_images, args.speed)
        return
    try:
        require_dataset("utkface_balanced", args.data)
        sets = [lfw_sample(args.data, args.lfw_images), load("utkface", args.data)]
        if args.children:
            sets.append(load("children", args.data))
    except FaceledgerError as exc:
        raise SystemExit(f"benchmarks/normalization.py: {exc}") from None
    emb = {s.name: embeddings(s, embed=args.embed) for s in sets}
    result = AuditResult(
        thresholds={}, datasets={}, evaluations=[], curves={}, embeddings=emb,
        audit_sets={s.name: s for s in sets}, settings={"model": DEFAULT_MODEL_ID},
    )  # fmt: skip
    print(
        f"model {DEFAULT_MODEL_ID}; LFW {len(sets[0]):,} images, UTKFace {len(sets[1]):,}; "
        f"clusters ≤ {args.clusters}, target FMR {args.target_fmr:g}, {args.rounds} rounds"
    )
    summary = []
    for seed in [int(x) for x in args.seeds.split(",")]:
        started = time.time()
        cal = calibration.run(
            result, seed=seed, log=lambda _m: None, clusters=args.clusters,
            target=args.target_fmr, rounds=args.rounds,
        )  # fmt: skip
        print(f"\n== split seed {seed} ({time.time() - started:.0f} s) ==")
        for f in cal["fits"]:
            print(
                f"fit {f['source']}: {f['images']:,} images, {f['clusters']} clusters, "
                f"d99 {f['d99']:.4f} (raw {distance_from_similarity(99, DEFAULT_MODEL_ID):.4f}) → "
                f"{f['scoring_id']}"
            )
        for t in cal["tables"]:
            print(f"\n{t['dataset']} (held out) by {t['grouping']}, FMR at similarity 99")
            print(
                f"  {'group':<22}{'pairs':>10}{'raw FMR':>12}{'(n)':>7}{'normalised':>12}{'(n)':>7}"
            )
            for r in t["rows"]:
                if not r["impostor_pairs"]:
                    continue
                print(
                    f"  {r['group'] + (' *' if r['small'] else ''):<22}{r['impostor_pairs']:>10,}"
                    f"{_rate(r['raw_fmr']):>12}{r['raw_false_matches']:>7}"
                    f"{_rate(r['normalized_fmr']):>12}{r['normalized_false_matches']:>7}"
                )
            print(
                f"  {'overall':<22}{'':>10}{_rate(t['raw_overall_fmr']):>12}{'':>7}"
                f"{_rate(t['normalized_overall_fmr']):>12}"
            )
            print(
                f"  largest/smallest: raw {_ratio(t['raw_ratio'])}, "
                f"normalised {_ratio(t['normalized_ratio'])}"
            )
        tar = cal["lfw_tar_at_far_1e-3"]
        if tar:
            print(
                f"\nLFW TAR at FAR 1e-3: raw {tar['raw']:.2%}, normalised {tar['normalized']:.2%}"
            )
        tar_99 = cal["lfw_tar_at_similarity_99"]
        if tar_99:
            print(
                f"LFW TAR at similarity 99: raw {tar_99['raw']:.2%}, "
                f"normalised {tar_99['normalized']:.2%}"
            )
        print(f"goal: {cal['verdict']}")
        utk = next(t for t in cal["tables"] if t["dataset"] == "utkface")
        summary.append((seed, utk["raw_ratio"], utk["normalized_ratio"], tar))
    if len(summary) > 1:
        print("\nseed  UTKFace race×gender ratio raw → normalised   LFW TAR@FAR1e-3 raw → norm")
        for seed, r, n, tar in summary:
            print(
                f"{seed:>4}  {_ratio(r):>14} → {_ratio(n):<14}"
                f"{tar['raw']:>12.2%} → {tar['normalized']:.2%}"
            )
    sys.stdout.flush()


def speed(data: str | None, images: int, n: int, queries: int = 50) -> None:
    """ms per exact top-10 search of ``n`` faces (LFW faces plus noise), raw and with the
    per-face terms of a scoring fitted on the LFW sample."""
    from faceledger.engine.scoring import fit
    from faceledger.store.index import ExactIndex

    s = lfw_sample(data, images)
    e = embeddings(s, embed=False)
    ok = np.isfinite(e).all(axis=1)
    e = e[ok].astype(np.float32)
    scoring = fit(e, [p for p, k in zip(s.subjects, ok, strict=True) if k],
                  base_model_id=DEFAULT_MODEL_ID, target=1e-3)  # fmt: skip
    rng = np.random.default_rng(0)
    x = e[rng.integers(0, len(e), n)] + rng.normal(size=(n, 128)).astype(np.float32) * 0.02
    q = e[rng.integers(0, len(e), queries)] + rng.normal(size=(queries, 128)) * 0.02
    for name, terms in (("raw", None), ("normalised", scoring.face_terms)):
        index = ExactIndex(lambda ids: x[ids], terms=terms)
        started = time.time()
        index.add(np.arange(n), x)
        built = time.time() - started
        for limit in (None, distance_from_similarity(99.0)):
            started = time.time()
            for v in q:
                index.search(v, 10, max_distance=limit)
            per = (time.time() - started) / queries * 1000
            bound = "at similarity 99" if limit else "unbounded"
            print(
                f"{name:<11} {n:,} faces: index built in {built:.1f} s; top 10 {bound}: "
                f"{per:.1f} ms/search"
            )


def _rate(x: float | None) -> str:
    return "—" if x is None else ("0" if x == 0 else f"{x:.2e}")


def _ratio(r: dict | None) -> str:
    if not r:
        return "n/a"
    if r["ratio"] is None:
        return f"∞ ({r['smallest']}: 0)"
    return f"{r['ratio']:.1f}× ({r['largest']} / {r['smallest']})"


if __name__ == "__main__":
    main()
