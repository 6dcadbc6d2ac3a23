"""Exact 1:N search: latency, memory and open time at 10k-1M faces; identification on LFW.

Also the opt-in approximate index (IVF, ``store/approximate.py``) at 100k and 1M faces: its
recall@10 is measured against the exact index on the same queries, with latency, build time and
memory, and every distance it returns is checked to be the exact distance of that face.

    python benchmarks/lfw_verification.py             # once: embeds and caches all of LFW
    python benchmarks/search.py                       # everything (about 3-4 minutes, 2 cores)
    python benchmarks/search.py --sizes 10000,100000  # smaller
    python benchmarks/search.py --no-scale --users    # only the LFW identification tables
    python benchmarks/search.py --spectra lfw,synthetic --no-open   # both spectra, labelled

Scale vectors are drawn from a Gaussian. With ``--spectra lfw`` (the default) it has the mean and
covariance of the real LFW embeddings of the default model, read from the embedding cache that
``benchmarks/lfw_verification.py`` fills (so the PCA spectrum the index relies on is realistic);
when that cache is missing the benchmark stops and says so (``--embed`` computes it here) rather
than measure something else. ``--spectra synthetic`` adds (or, alone, runs only) a made-up
diagonal spectrum with no LFW needed; every table row names its spectrum. Half the queries are a
gallery vector moved by a same-person-sized offset, half are fresh draws (nobody enrolled).
Correctness is checked on real and synthetic vectors: every query's top 10 equals the float64
brute force (ids and distances). Baselines run in the same process on the same vectors: plain
numpy (norms precomputed, one matrix-vector product, argpartition) and FAISS IndexFlatL2 /
IndexFlatIP (``pip install faiss-cpu``; columns skipped when absent). IndexFlatIP ranks by inner
product, which is not Euclidean order for these non-unit vectors: it is a speed reference only.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.datasets import require_dataset
from faceledger.datasets.embed_cache import cache_file, cached_table, embed_images
from faceledger.datasets.lfw import IMAGE_DIR, identities
from faceledger.engine.similarity import (
    DEFAULT_MODEL_ID,
    DEFAULT_THRESHOLD,
    distance_from_similarity,
    similarity_from_distance,
)
from faceledger.errors import FaceledgerError
from faceledger.store import SQLiteStore
from faceledger.store.approximate import ApproximateIndex
from faceledger.store.index import ExactIndex, brute_force, exact_distances

K = 10
MODEL = DEFAULT_MODEL_ID
"""The LFW vectors are the default model's (tta6, unit length); thresholds use its calibration."""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Spectrum:
    """The Gaussian the scale vectors are drawn from, and how the tables name it."""

    name: str  # short, for file names: "lfw", "lfw-sample2000", "synthetic"
    label: str  # in every table row
    mean: np.ndarray
    chol: np.ndarray


def lfw_table(
    data: str | None = None, *, images: int = 0, embed: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of LFW (default model, the face nearest each image's centre) and their
    identities, from the embedding cache's own lookup: exactly the table
    ``benchmarks/lfw_verification.py`` caches (``images``: a seeded sample of that many images
    instead, a separate cache entry). Never falls back to other vectors: exits with the command
    that creates the cache when it is missing, unless ``embed`` (compute and cache it here)."""
    try:
        lfw = require_dataset("lfw", data)
    except FaceledgerError as exc:
        raise SystemExit(f"benchmarks/search.py: {exc}") from None
    paths = [p for v in identities(lfw).values() for p in v]
    if images:
        keep = set(random.Random(0).sample(paths, min(images, len(paths))))
        paths = [p for p in paths if p in keep]
    root = lfw / IMAGE_DIR
    table = (
        embed_images(root, paths, name="lfw") if embed else cached_table(root, paths, name="lfw")
    )
    if table is None:
        how = (
            f"rerun with --embed to compute them ({len(paths):,} images, about 0.14 CPU-s each)"
            if images
            else "run `python benchmarks/lfw_verification.py` first (it embeds and caches all "
            f"{len(paths):,} LFW images, about 30 CPU-minutes on 2 cores), or rerun with --embed"
        )
        raise SystemExit(
            f"benchmarks/search.py: the LFW embeddings this benchmark measures are not cached "
            f"(no {cache_file(root, paths, name='lfw')}): {how}. "
            "`--spectra synthetic` measures synthetic vectors only, without LFW."
        )
    rows = table.select("center")
    emb = table.embeddings(tta=True)[rows].astype(np.float32)
    names = np.array([p.split("/")[0] for p in paths])
    ok = rows >= 0
    return emb[ok], names[ok]


def lfw_spectrum(emb: np.ndarray, images: int) -> Spectrum:
    mean = emb.mean(0).astype(np.float64)
    chol = np.linalg.cholesky(np.cov(emb - mean, rowvar=False) + 1e-9 * np.eye(128))
    if images:
        return Spectrum(f"lfw-sample{images}", f"LFW spectrum ({len(emb):,} images)", mean, chol)
    return Spectrum("lfw", "LFW spectrum", mean, chol)


def synthetic_spectrum() -> Spectrum:
    """Not face-like: a diagonal covariance decaying smoothly; only when asked for."""
    rng = np.random.default_rng(0)
    mean = rng.normal(size=128) * 0.05
    chol = np.diag(0.12 * np.exp(-2.0 * np.linspace(0, 1, 128)))
    return Spectrum("synthetic", "synthetic (not LFW)", mean, chol)


def synthetic(n: int, mean: np.ndarray, chol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, 128), dtype=np.float32)
    for start in range(0, n, 200_000):
        m = min(n, start + 200_000) - start
        out[start : start + m] = mean + rng.standard_normal((m, 128)) @ chol.T
    return out


def queries_for(x: np.ndarray, count: int, mean, chol, rng) -> np.ndarray:  # noqa: ANN001
    """Half mated (gallery vector + same-person offset of norm 0.3), half fresh draws."""
    mated = x[rng.integers(0, len(x), count // 2)].astype(np.float64)
    offset = rng.standard_normal(mated.shape)
    offset *= 0.3 / np.linalg.norm(offset, axis=1, keepdims=True)
    fresh = synthetic(count - count // 2, mean, chol, rng)
    return np.concatenate([mated + offset, fresh]).astype(np.float32)


def timed(fn, queries: np.ndarray) -> tuple[list, np.ndarray]:  # noqa: ANN001
    out, times = [], []
    fn(queries[0])  # warm up
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    return out, np.array(times) * 1e3


def numpy_search(x: np.ndarray, norms: np.ndarray):  # noqa: ANN201
    def search(q: np.ndarray) -> np.ndarray:
        d = norms - 2.0 * (x @ q) + float(q @ q)
        top = np.argpartition(d, K)[:K]
        return top[np.argsort(d[top])]

    return search


def faiss_search(x: np.ndarray, kind: str):  # noqa: ANN201
    try:
        import faiss
    except ImportError:
        return None
    index = faiss.IndexFlatL2(128) if kind == "l2" else faiss.IndexFlatIP(128)
    index.add(x)

    def search(q: np.ndarray) -> np.ndarray:
        return index.search(q.reshape(1, -1), K)[1][0]

    search.index = index  # keep alive
    return search


def bench_scale(args, spectra: list[Spectrum]) -> None:  # noqa: ANN001
    sizes = [int(s) for s in args.sizes.split(",")]
    heads = [int(t) for t in args.threads.split(",")]
    rows = []
    for spectrum in spectra:
        rng = np.random.default_rng(7)  # the same draws for a spectrum whatever else runs
        for n in sizes:
            rows.append(scale_row(args, spectrum, n, heads, rng))
            gc.collect()
    print(f"\n## Top-{K} exact search latency, ms (p50 / p95), {args.queries} queries")
    cols = [f"ours{h}" for h in heads] + ["numpy", "faiss_l2", "faiss_ip"]
    names = {f"ours{h}": f"faceledger ({h} thread{'s' * (h > 1)})" for h in heads}
    names |= {"numpy": "plain numpy", "faiss_l2": "FAISS FlatL2", "faiss_ip": "FAISS FlatIP"}
    print("| vectors | faces | " + " | ".join(names[c] for c in cols) + " | exact checks |")
    print("|---|---:|" + "---:|" * (len(cols) + 1))
    for row in rows:
        cells = [
            f"{np.percentile(row[c], 50):.1f} / {np.percentile(row[c], 95):.1f}"
            if c in row
            else "n/a"
            for c in cols
        ]
        print(
            f"| {row['spectrum'].label} | {row['n']:,} | " + " | ".join(cells)
            + f" | {row['checked']} = brute force |"
        )  # fmt: skip
    print("\n## Index memory (resident growth, GB per 1M faces) and build time")
    for row in rows:
        mem = row[f"mem{heads[0]}"] if row["n"] >= 100_000 else None
        shown = f"{mem:.3f} GB per 1M" if mem is not None else "below measurement noise"
        print(f"- {row['n']:,} faces, {row['spectrum'].label}: {shown}; build {row['build']:.2f} s")
    approx = [row for row in rows if "approximate" in row]
    if approx:
        print(f"\n## Top-{K} approximate search (IVF, opt-in), {args.queries} queries, "
              f"recall@{K} against the exact index")  # fmt: skip
        print(f"| vectors | faces | lists | nprobe | recall@{K} | queries with recall < 0.8 "
              "| p50 / p95 ms | exact p50 / p95 ms | build s | memory GB per 1M |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in approx:
            a, exact_ms = row["approximate"], row[f"ours{heads[0]}"]
            for nprobe, recall, ms in a["runs"]:
                print(
                    f"| {row['spectrum'].label} | {row['n']:,} | {a['nlist']} | {nprobe} | "
                    f"{recall.mean():.3f} | {(recall < 0.8).sum()} | "
                    f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 95):.1f} | "
                    f"{np.percentile(exact_ms, 50):.1f} / {np.percentile(exact_ms, 95):.1f} | "
                    f"{a['build']:.1f} | {a['mem']:.3f} |"
                )
        print("(every returned distance checked equal to the exact distance of that face)")


def scale_row(args, spectrum: Spectrum, n: int, heads: list[int], rng) -> dict:  # noqa: ANN001
    """One size of one spectrum: the exact index per thread count, IVF, the baselines."""
    x = synthetic(n, spectrum.mean, spectrum.chol, rng)
    ids = np.arange(n, dtype=np.int64)
    queries = queries_for(x, args.queries, spectrum.mean, spectrum.chol, rng)
    row: dict = {"n": n, "spectrum": spectrum}
    for head in heads:
        gc.collect()
        before = rss_mb()
        index = ExactIndex(lambda s, x=x: x[s], threads=head)
        t = time.perf_counter()
        for start in range(0, n, 65536):
            index.add(ids[start : start + 65536], x[start : start + 65536])
        build = time.perf_counter() - t
        gc.collect()
        row[f"mem{head}"] = (rss_mb() - before) / n * 1e6 / 1024  # GB per 1M
        res, ms = timed(lambda q, index=index: index.search(q, K), queries)
        row[f"ours{head}"] = ms
        row["build"] = build
        check = rng.choice(len(queries), min(args.check, len(queries)), replace=False)
        for i in check:
            assert res[i] == brute_force(queries[i], ids, x, K), f"not exact at n={n}"
        row["checked"] = len(check)
        del index
    if n >= args.approximate_min:
        row["approximate"] = bench_approximate(args, x, ids, queries, res)
    norms = np.einsum("ij,ij->i", x, x)
    _, row["numpy"] = timed(numpy_search(x, norms), queries)
    for kind in ("l2", "ip"):
        fs = faiss_search(x, kind)
        if fs is not None:
            _, row[f"faiss_{kind}"] = timed(fs, queries)
        del fs
    return row


def bench_approximate(args, x, ids, queries, exact_results) -> dict:  # noqa: ANN001
    """Build the IVF index as the store would (chunks), then recall@K vs the exact results."""
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    index = ApproximateIndex(lambda s: x[s])
    for start in range(0, len(x), 65536):
        index.add(ids[start : start + 65536], x[start : start + 65536])
    build = time.perf_counter() - t
    gc.collect()
    mem = (rss_mb() - before) / len(x) * 1e6 / 1024
    runs = []
    for nprobe in [int(p) for p in args.nprobe.split(",")]:
        index.nprobe = nprobe
        res, ms = timed(lambda q: index.search(q, K), queries)
        pairs = zip(res, exact_results, strict=True)
        recall = np.array([len({i for i, _ in r} & {i for i, _ in e}) / K for r, e in pairs])
        for q, r in zip(queries, res, strict=True):  # results may miss, never lie
            got = np.array([d for _, d in r])
            assert np.array_equal(got, exact_distances(q, x[[i for i, _ in r]])), "inexact"
        runs.append((nprobe, recall, ms))
    return {"nlist": index.nlist, "build": build, "mem": mem, "runs": runs}


def bench_open(args, spectrum: Spectrum) -> None:  # noqa: ANN001
    """Write n faces into a real SQLite store file, then time opening its index and searching."""
    n = args.open_size
    mean, chol = spectrum.mean, spectrum.chol
    default = Path(tempfile.gettempdir()) / f"faceledger-bench-{n}-{spectrum.name}.db"
    path = Path(args.db) if args.db else default
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        SQLiteStore(tmp).create_collection("bench", "c", MODEL)
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA synchronous = OFF")
        (pk,) = con.execute("SELECT pk FROM collections").fetchone()
        rng = np.random.default_rng(11)
        with con:
            for start in range(0, n, 100_000):
                x = synthetic(min(n, start + 100_000) - start, mean, chol, rng)
                con.executemany(
                    "INSERT INTO faces (collection_pk, face_id, external_image_id, image_sha256,"
                    " box_left, box_top, box_width, box_height, score, sharpness, brightness,"
                    " face_size, yaw, pitch, roll, created_at, embedding) VALUES"
                    " (?,?,?,?,0,0,100,100,1,50,50,100,0,0,0,'2026-01-01T00:00:00Z',?)",
                    (
                        (pk, str(uuid.uuid4()), f"img{start + i}", f"{start + i:064x}", v.tobytes())
                        for i, v in enumerate(x)
                    ),
                )
                con.executemany(
                    "INSERT INTO images VALUES (?, ?, ?, '2026-01-01T00:00:00Z')",
                    ((pk, f"{start + i:064x}", f"img{start + i}") for i in range(len(x))),
                )
        con.close()
        tmp.rename(path)
        for suffix in ("-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        print(f"\n(wrote {n:,} faces to {path} in {time.perf_counter() - t:.1f} s)")
    gc.collect()
    before = rss_mb()
    store = SQLiteStore(path)
    t = time.perf_counter()
    index = store.open_index("bench", "c")
    opened = time.perf_counter() - t
    gc.collect()
    grown = rss_mb() - before
    rng = np.random.default_rng(3)
    queries = synthetic(args.queries, mean, chol, rng)
    _, ms = timed(lambda q: store.search("bench", "c", q, k=K), queries)
    size = path.stat().st_size / 1e9
    print(f"\n## Opening a {n:,}-face collection from SQLite ({size:.2f} GB, {spectrum.label})")
    print(f"- open (read every embedding, fit the grid, encode): {opened:.1f} s")
    arrays = index.nbytes / 1e9
    print(f"- resident growth after open: {grown / 1024:.3f} GB ({arrays:.3f} GB arrays)")
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
    print(f"- store.search top-{K} through SQLite (sync check, exact re-rank, records): "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")  # fmt: skip
    store.close()


def identification(emb: np.ndarray, names: np.ndarray, sample: int = 0) -> None:
    """Open-set identification on LFW: faces (one image per identity) vs users (several)."""
    max_d = distance_from_similarity(DEFAULT_THRESHOLD, MODEL)
    rng = np.random.default_rng(0)
    uniq, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    per = counts[inverse]
    singles = np.flatnonzero(per == 1)
    rng.shuffle(singles)
    distractors, nonmated = singles[: len(singles) // 2], singles[len(singles) // 2 :]

    def rank1(gallery_sets: dict[str, np.ndarray], probes: np.ndarray, agg: str):  # noqa: ANN202
        """Best user of each probe and its aggregated distance (exact, float64)."""
        labels = list(gallery_sets)
        mats = [emb[gallery_sets[u]].astype(np.float64) for u in labels]
        flat = np.concatenate(mats)
        owner = np.concatenate([np.full(len(m), i) for i, m in enumerate(mats)])
        users = np.arange(len(labels))
        centroids = np.array([m.mean(0) for m in mats])
        best_label, best_d = [], []
        for q in probes:
            if agg == "centroid":
                per_user = np.linalg.norm(centroids - emb[q], axis=1)
            else:
                d = np.linalg.norm(flat - emb[q], axis=1)
                order = np.lexsort((d, owner))
                so, sd = owner[order], d[order]
                starts = np.searchsorted(so, users)
                per_user = sd[starts]
                if agg == "top2-mean":
                    nxt = np.minimum(starts + 1, len(sd) - 1)
                    has2 = (starts + 1 < len(sd)) & (so[nxt] == users)
                    per_user = np.where(has2, (per_user + sd[nxt]) / 2, per_user)
            i = int(np.argmin(per_user))
            best_label.append(labels[i])
            best_d.append(per_user[i])
        return np.array(best_label), np.array(best_d)

    def report(title: str, gallery: dict[str, np.ndarray], probes: np.ndarray, agg: str) -> str:
        lab, d = rank1(gallery, probes, agg)
        correct = lab == names[probes]
        hit = d <= max_d
        _nm_lab, nm_d = rank1(gallery, nonmated, agg)
        # the threshold at which 1% of non-mated searches return someone, and TPIR there
        d01 = float(np.quantile(nm_d, 0.01))
        sim01 = float(similarity_from_distance(d01, MODEL))
        return (
            f"| {title} | {agg} | {len(gallery):,} | {len(probes):,} | {correct.mean():.4f} | "
            f"{(correct & hit).mean():.4f} | {(~correct & hit).mean():.4f} | "
            f"{(nm_d <= max_d).mean():.4f} | {(correct & (d < d01)).mean():.4f} "
            f"(distance < {d01:.3f}, similarity > {sim01:.3f}) |"
        )

    which = f"a sample of {len(emb):,} LFW images" if sample else "LFW"
    print(f"\n## Identification on {which} (deep-funneled, {MODEL}), threshold "
          f"{DEFAULT_THRESHOLD:g} (distance ≤ {max_d:.3f})")  # fmt: skip
    print(f"Distractors enrolled: {len(distractors):,} single-image identities; non-mated probes: "
          f"the other {len(nonmated):,} single-image identities (never enrolled).")  # fmt: skip
    print("| gallery | aggregation | enrolled | mated probes | rank-1 | TPIR@thr "
          "| misidentified@thr | FPIR@thr (non-mated) | TPIR at FPIR 1% |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    # A: faces. Every identity with >= 2 images: first image enrolled, the rest probe.
    multi = np.flatnonzero(per >= 2)
    first = {}
    for i in multi:
        first.setdefault(names[i], i)
    gallery = {u: np.array([i]) for u, i in first.items()}
    gallery |= {names[i]: np.array([i]) for i in distractors}
    probes = np.array([i for i in multi if first[names[i]] != i])
    print(report("faces: 1 image per identity (>= 2 images)", gallery, probes, "max"))
    # B: users. Identities with >= 3 images: all but the last enrolled as a user, last probes;
    # compared with enrolling only the first image of the same identities.
    three = np.flatnonzero(per >= 3)
    by_name: dict[str, list[int]] = {}
    for i in three:
        by_name.setdefault(names[i], []).append(i)
    probes3 = np.array([v[-1] for v in by_name.values()])
    dist = {names[i]: np.array([i]) for i in distractors}
    single = {u: np.array(v[:1]) for u, v in by_name.items()} | dist
    users = {u: np.array(v[:-1]) for u, v in by_name.items()} | dist
    print(report("single face per identity (>= 3 images)", single, probes3, "max"))
    for agg in ("max", "centroid", "top2-mean"):
        print(report("user: all but one image (>= 3 images)", users, probes3, agg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding lfw/ (default: $FACELEDGER_DATA etc.)")
    parser.add_argument(
        "--spectra", default="lfw", help="scale vectors: lfw, synthetic or lfw,synthetic"
    )
    parser.add_argument(
        "--lfw-images",
        type=int,
        default=0,
        help="a seeded sample of this many LFW images instead of all (own cache entry)",
    )
    parser.add_argument(
        "--embed", action="store_true", help="compute and cache missing LFW embeddings (slow)"
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--threads", default="1", help="faceledger columns, e.g. 1,2")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--check", type=int, default=20, help="queries checked vs brute force")
    parser.add_argument("--approximate-min", type=int, default=100_000,
                        help="approximate index rows for sizes at least this")  # fmt: skip
    parser.add_argument("--nprobe", default="32,128", help="approximate index lists probed")
    parser.add_argument("--open-size", type=int, default=1_000_000)
    parser.add_argument("--db", default="", help="SQLite file for the open test (kept)")
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--no-open", action="store_true")
    parser.add_argument("--users", action="store_true", help="only identification tables")
    args = parser.parse_args()
    wanted = args.spectra.split(",")
    if not wanted or set(wanted) - {"lfw", "synthetic"}:
        parser.error("--spectra: lfw, synthetic or lfw,synthetic")
    if args.users and "lfw" not in wanted:
        parser.error("--users needs the LFW embeddings (--spectra lfw)")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    spectra: list[Spectrum] = []
    emb = names = None
    if "lfw" in wanted:
        emb, names = lfw_table(args.data, images=args.lfw_images, embed=args.embed)
        spectra.append(lfw_spectrum(emb, args.lfw_images))
        print(f"LFW: {len(emb):,} embeddings, {len(set(names)):,} identities")
        # correctness on real vectors: every LFW face as a query of the whole set (200 of them)
        ids = np.arange(len(emb))
        index = ExactIndex(lambda s: emb[s])
        index.add(ids, emb)
        picks = np.random.default_rng(1).choice(len(emb), min(200, len(emb)), replace=False)
        for i in picks:
            assert index.search(emb[i], K) == brute_force(emb[i], ids, emb, K)
        print(f"real LFW vectors: {len(picks)} queries, top-{K} identical to brute force")
    if "synthetic" in wanted:
        spectra.append(synthetic_spectrum())
        print("synthetic vectors (asked for): rows labelled 'synthetic (not LFW)'")
    if not args.users:
        if not args.no_scale:
            bench_scale(args, spectra)
        if not args.no_open:
            bench_open(args, spectra[0])
    if emb is not None and names is not None:
        identification(emb, names, sample=args.lfw_images)
    else:
        print("(no LFW vectors: no identification tables)", file=sys.stderr)


if __name__ == "__main__":
    main()
