"""1:N search on PostgreSQL: the in-memory exact index (the default) beside pgvector's exact scan
and pgvector's HNSW (opt-in, ``exact=False``), at 100k and 1M faces of one collection.

    python benchmarks/postgres_search.py                        # 100k and 1M (about 20-40 min)
    python benchmarks/postgres_search.py --sizes 100000         # quicker
    python benchmarks/postgres_search.py --database-url postgresql://...   # a server of yours

Without ``--database-url`` it starts the ``pgserver`` wheel's PostgreSQL 16 + pgvector in a
temporary folder. Faces are loaded with ``COPY`` straight into the store's tables (loading a
million through the service would measure the service, not search) in a collection made by
``PostgresStore``; every search then goes through ``PostgresStore.search`` (row fetch
included), except pgvector's exact scan, which is the bare SQL with index scans disabled.

Vectors: Gaussian with the mean and covariance of the real LFW embeddings when
``benchmarks/lfw_verification.py`` has cached them (``--spectrum lfw``), else a synthetic
spectrum (``--spectrum synthetic``); the table names which. Queries: half a gallery vector moved
by a same-person-sized offset, half fresh draws. Recall@10 of HNSW is measured against the exact
index on the same queries. Baseline: the in-memory exact index (what every search uses unless it
opts out).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from faceledger.engine.similarity import DEFAULT_MODEL_ID  # noqa: E402
from faceledger.store.pgvector import literal  # noqa: E402
from faceledger.store.postgres import PostgresStore  # noqa: E402
from search import (  # noqa: E402 - the search benchmark's vector generators
    lfw_spectrum,
    lfw_table,
    queries_for,
    synthetic,
    synthetic_spectrum,
    timed,
)

TENANT = "bench"


def start_server() -> tuple[str, object, Path]:
    import pgserver
    import psycopg

    home = Path(tempfile.mkdtemp(prefix="faceledger-pgbench-"))
    home.chmod(0o711)
    srv = pgserver.get_server(home / "pgdata", cleanup_mode="delete")
    name = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return srv.get_uri(name), srv, home


def load(url: str, collection: str, x: np.ndarray) -> PostgresStore:
    """A collection of ``len(x)`` faces, written with COPY in the store's own tables."""
    import psycopg

    store = PostgresStore(url)
    store.create_collection(TENANT, collection, DEFAULT_MODEL_ID)
    with psycopg.connect(url, autocommit=True) as conn:
        (pk,) = conn.execute(
            "SELECT pk FROM collections WHERE collection_id = %s", (collection,)
        ).fetchone()
        t = time.perf_counter()
        cols = (
            "collection_pk, face_id, image_sha256, box_left, box_top, box_width, box_height,"
            " score, sharpness, brightness, face_size, yaw, pitch, roll, created_at,"
            " embedding, embedding_v"
        )
        with conn.cursor().copy(f"COPY faces ({cols}) FROM STDIN") as copy:
            for start in range(0, len(x), 20_000):
                buf = io.StringIO()
                for i in range(start, min(len(x), start + 20_000)):
                    v = x[i]
                    buf.write(
                        f"{pk}\t{uuid.uuid4()}\t{i:064x}\t0\t0\t100\t100\t1\t50\t120\t100"
                        f"\t0\t0\t0\t2026-01-01T00:00:00Z\t\\\\x{v.tobytes().hex()}"
                        f"\t{literal(v)}\n"
                    )
                copy.write(buf.getvalue())
                print(f"  loaded {min(len(x), start + 20_000):,}/{len(x):,}", end="\r", flush=True)
        conn.execute(
            "UPDATE collections SET face_count = %s, image_count = %s WHERE pk = %s",
            (len(x), len(x), pk),
        )
        conn.execute("VACUUM ANALYZE faces")
        print(f"  loaded {len(x):,} faces in {time.perf_counter() - t:.0f} s" + " " * 20)
    return store


def pgvector_exact(url: str, collection: str):  # noqa: ANN201
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    (pk,) = conn.execute(
        "SELECT pk FROM collections WHERE collection_id = %s", (collection,)
    ).fetchone()

    def search(q: np.ndarray) -> list[int]:
        with conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            rows = conn.execute(
                "SELECT seq FROM faces WHERE collection_pk = %s"
                " ORDER BY embedding_v <-> %s::vector LIMIT 10",
                (pk, literal(q)),
            ).fetchall()
        return [r[0] for r in rows]

    return search, conn


def row(name: str, ms: np.ndarray, recall: float | None, extra: str) -> str:
    r = f"{recall:.3f}" if recall is not None else "exact"
    return f"| {name} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | {r} | {extra} |"


def bench(url: str, n: int, spectrum, args) -> list[str]:  # noqa: ANN001
    rng = np.random.default_rng(n)
    x = synthetic(n, spectrum.mean, spectrum.chol, rng)
    queries = queries_for(x, args.queries, spectrum.mean, spectrum.chol, rng)
    collection = f"c{n}"
    print(f"{n:,} faces ({spectrum.label})")
    store = load(url, collection, x)
    t = time.perf_counter()
    store.open_index(TENANT, collection)
    open_s = time.perf_counter() - t
    exact, ms_exact = timed(
        lambda q: [h.face.face_id for h in store.search(TENANT, collection, q, k=10)], queries
    )
    lines = [row(f"in-memory exact (baseline), {n:,}", ms_exact, None, f"load {open_s:.1f} s")]
    scan, conn = pgvector_exact(url, collection)
    few = queries[: args.scan_queries]
    _, ms_scan = timed(scan, few)
    conn.close()
    lines.append(row(f"pgvector exact scan, {n:,}", ms_scan, None, f"{len(few)} queries"))
    t = time.perf_counter()
    store.open_index(TENANT, collection, exact=False)  # builds the HNSW index
    build_s = time.perf_counter() - t
    approx, ms_hnsw = timed(
        lambda q: [h.face.face_id for h in store.search(TENANT, collection, q, k=10, exact=False)],
        queries,
    )
    recall = float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)]))
    lines.append(row(f"pgvector HNSW (opt-in), {n:,}", ms_hnsw, recall, f"build {build_s:.0f} s"))
    store.close()
    for line in lines:
        print(line)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("FACELEDGER_DATABASE_URL"))
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--scan-queries", type=int, default=20)
    ap.add_argument("--spectrum", choices=("lfw", "synthetic"), default="synthetic")
    args = ap.parse_args()
    if args.spectrum == "lfw":
        emb, _names = lfw_table(embed=False)
        spectrum = lfw_spectrum(emb, 0)
    else:
        spectrum = synthetic_spectrum()
    home = None
    url = args.database_url
    if not url:
        url, _srv, home = start_server()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET maintenance_work_mem = '2GB'")
        conn.execute("ALTER SYSTEM SET max_parallel_maintenance_workers = 2")
        conn.execute("SELECT pg_reload_conf()")
    lines = []
    for n in (int(s) for s in args.sizes.split(",")):
        lines += bench(url, n, spectrum, args)
    print(
        f"\nk=10, {args.queries} queries ({args.scan_queries} for the scan); {os.cpu_count()} CPUs"
    )
    print("| search | p50 ms | p95 ms | recall@10 | notes |")
    print("|---|---|---|---|---|")
    for line in lines:
        print(line)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
