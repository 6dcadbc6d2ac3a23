"""Opt-in approximate 1:N search: an inverted file (IVF) over the exact index's int8 codes.

Never the default (see ``docs/store.md``): a caller asks for it per search and the result says
``search_mode="approximate"``. Its recall is measured (``benchmarks/search.py``, and
``tests/store/test_approximate_index.py``), never assumed.

How it works: k-means (numpy) on the first rows added gives ``nlist`` coarse centroids; every
row belongs to the list of its nearest centroid. A search probes the ``nprobe`` lists whose
centroids are nearest the query, and within those lists runs exactly the same bound-and-finish
search as :class:`~faceledger.store.index.ExactIndex` (int8 lower bound, float32 embeddings
fetched and finished exactly). So the result is the exact top ``k`` *of the probed lists*: every
returned distance is the exact distance of that face; a true neighbour in an unprobed list can
be missed (that is the recall), but a returned result never lies.

Memory: the exact index's 140 bytes per face plus 4 (list membership) and the centroids.
"""

from __future__ import annotations

import numpy as np

from faceledger.store.index import (
    DIM,
    ExactIndex,
    Fetch,
    Terms,
    squared_code_distances,
)

NLIST_MAX = 1024
"""Coarse lists; fewer when fitted on few rows (at least ``ROWS_PER_LIST`` rows each)."""
ROWS_PER_LIST = 64
NPROBE = 128
"""Default lists probed (1/8 of 1024): recall@10 measured in docs/store.md."""
KMEANS_ITERATIONS = 10
KMEANS_SAMPLE = 32
"""k-means trains on at most this many rows per list (of the first rows added)."""


def kmeans(x: np.ndarray, clusters: int, *, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Lloyd's k-means (float32, deterministic seed); empty clusters keep their centre."""
    rng = np.random.default_rng(0)
    x = np.asarray(x, dtype=np.float32)
    if len(x) > KMEANS_SAMPLE * clusters:
        x = x[np.sort(rng.choice(len(x), KMEANS_SAMPLE * clusters, replace=False))]
    centres = x[rng.choice(len(x), clusters, replace=False)].copy()
    for _ in range(iterations):
        labels = nearest(x, centres)
        counts = np.bincount(labels, minlength=clusters)
        sums = np.stack([np.bincount(labels, x[:, j], clusters) for j in range(x.shape[1])], 1)
        full = counts > 0
        centres[full] = (sums[full] / counts[full, None]).astype(np.float32)
    return centres


def nearest(x: np.ndarray, centres: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Index of the nearest centre of each row of ``x``."""
    norms = np.einsum("ij,ij->i", centres, centres)
    out = np.empty(len(x), dtype=np.int32)
    for start in range(0, len(x), chunk):
        d = norms - 2.0 * (x[start : start + chunk] @ centres.T)
        out[start : start + chunk] = np.argmin(d, axis=1)
    return out


class ApproximateIndex(ExactIndex):
    """Same interface as :class:`ExactIndex` (add, remove, search, ``needs_refit``); search
    probes ``nprobe`` inverted lists instead of every row. Returned distances are exact."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        dim: int = DIM,
        threads: int = 1,
        nlist: int = NLIST_MAX,
        nprobe: int = NPROBE,
        terms: Terms | None = None,
    ) -> None:
        super().__init__(fetch, dim=dim, threads=threads, terms=terms)
        self.max_lists = nlist
        self.nprobe = nprobe
        self._centres = np.zeros((0, dim), dtype=np.float32)
        self._assign = np.zeros(0, dtype=np.int32)  # list of each row
        # per list: its rows (increasing) and their codes, contiguous so a probe reads blocks
        # (gathering scattered rows from one array cost 13 ms at 1M faces); the exact index's
        # row-ordered code array stays empty.
        self._members: list[np.ndarray] = []
        self._list_codes: list[np.ndarray] = []

    @property
    def nlist(self) -> int:
        return len(self._centres)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._n * (8 + 4) + self._centres.nbytes

    def fit(self, sample: np.ndarray) -> None:
        super().fit(sample)
        x = np.asarray(sample, dtype=np.float32).reshape(-1, self.dim)
        if len(x) == 0:
            return
        clusters = max(1, min(self.max_lists, len(x) // ROWS_PER_LIST))
        self._centres = kmeans(x, clusters)
        self._clear_lists()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        prepared = self._prepare(ids, vectors)
        if prepared is None:
            return
        ids, vectors, codes, err = prepared
        lists = nearest(vectors, self._centres)
        start, end = self._n, self._n + len(ids)
        if end > len(self._ids):
            cap = max(end, int(len(self._ids) * 1.5), 1024)
            self._ids, self._err = _grow_to(self._ids, cap), _grow_to(self._err, cap)
            self._assign = _grow_to(self._assign, cap)
        self._ids[start:end] = ids
        self._err[start:end] = err
        self._assign[start:end] = lists
        self._err_max = max(self._err_max, float(err.max()))
        self._add_terms(slice(start, end), vectors)
        self._n = end
        self._alive_count += len(ids)
        self._extend_lists(np.arange(start, end), lists, codes)

    def search(
        self, query: np.ndarray, k: int, *, max_distance: float | None = None
    ) -> list[tuple[int, float]]:
        """Exact top ``k`` (id, distance) among the ``nprobe`` nearest lists, ties by id."""
        query = self._checked_query(query)
        if k <= 0 or self._alive_count == 0 or self._mu is None:
            return []
        probe = [p for p in self._probe(query).tolist() if len(self._members[p])]
        if not probe:
            return []
        qc, eq = self._encode(query.reshape(1, -1))
        eq = float(eq[0])
        rows = np.concatenate([self._members[p] for p in probe])
        d2 = np.concatenate(
            [squared_code_distances(qc[0], self._list_codes[p], self.threads) for p in probe]
        )
        err = self._err[rows]
        d2[~np.isfinite(err)] = np.inf
        return self._search_codes(query, d2, err, eq, k, max_distance, rows)

    # ------------------------------------------------------------------ internals
    def _probe(self, query: np.ndarray) -> np.ndarray:
        d = ((self._centres - query) ** 2).sum(axis=1)
        count = min(self.nprobe, len(d))
        return np.argpartition(d, count - 1)[:count] if count < len(d) else np.arange(len(d))

    def _clear_lists(self) -> None:
        self._members = [np.zeros(0, dtype=np.int64) for _ in range(self.nlist)]
        self._list_codes = [np.zeros((0, self.dim), dtype=np.int8) for _ in range(self.nlist)]

    def _extend_lists(self, rows: np.ndarray, lists: np.ndarray, codes: np.ndarray) -> None:
        order = np.argsort(lists, kind="stable")
        lists, rows, codes = lists[order], rows[order], codes[order]
        cuts = np.flatnonzero(np.diff(lists)) + 1
        parts = zip(np.split(rows, cuts), np.split(codes, cuts), lists[np.r_[0, cuts]], strict=True)
        for r, c, p in parts:
            self._members[p] = np.concatenate([self._members[p], r])
            self._list_codes[p] = np.concatenate([self._list_codes[p], c])

    def _compact(self) -> None:
        alive = np.flatnonzero(np.isfinite(self._err[: self._n]))
        count = len(alive)
        if count == self._n:
            return
        new_row = np.full(self._n, -1, dtype=np.int64)
        new_row[alive] = np.arange(count)
        for p in range(self.nlist):
            old = self._members[p]
            keep = new_row[old] >= 0
            self._members[p] = new_row[old[keep]]
            self._list_codes[p] = self._list_codes[p][keep]
        self._ids[:count] = self._ids[alive]
        self._err[:count] = self._err[alive]
        self._assign[:count] = self._assign[alive]
        if self.terms is not None:
            self._t[:count] = self._t[alive]
        self._n = self._alive_count = count


def _grow_to(array: np.ndarray, rows: int) -> np.ndarray:
    if rows <= len(array):
        return array
    out = np.empty(rows, dtype=array.dtype)
    out[: len(array)] = array
    return out


__all__ = ["NPROBE", "ApproximateIndex", "kmeans", "nearest"]
