"""In-memory exact nearest-neighbour search over a collection's embeddings.

Exact means: the ids and distances returned are those a brute-force scan returns, computed
with :func:`exact_distances` (float64 Euclidean distance of the stored float32 embeddings), ties
broken by id (insertion order). Property tests compare it with brute force (hypothesis).

How it is fast without being approximate: a scan of int8 codes gives a *lower bound* of every
distance; only rows whose bound can still beat the k-th best are finished exactly.

1. Each vector is kept as an int8 code on one uniform grid: ``code = round((x - mu) / s)``
   (clipped to ±127), with its exact reconstruction error ``e_i = |s code + mu - x|`` (float64,
   rounded up). The query gets a code and an error ``e_q`` the same way.
2. One SIMD pass (simsimd, integer arithmetic, so exact) gives ``D_i = |code_q - code_i|^2`` for
   all rows: 128 bytes read per face instead of 512. By the triangle inequality the true distance
   lies within ``s sqrt(D_i) ± (e_q + e_i)``.
3. A handful of rows with the smallest D are finished exactly; the k-th best gives a radius T
   (an upper bound of the true k-th distance). Every row whose lower bound
   ``s sqrt(D_i) - e_q - e_i`` is at most T is finished exactly; no other row can be in the top k.
4. "Finished exactly" uses the original float32 embedding handed in by ``fetch`` (the SQLite
   store reads it from its file), so the in-memory copy is only the int8 codes:
   about 141 bytes per face (codes, id, error), 0.14 GB per 1M faces.

The grid (``mu``, ``s``) is fitted on the first rows added; ``needs_refit`` tells the owner when
the index has outgrown a fit made on few rows (the store then rebuilds it from its file).

A collection whose model id is a normalised scoring (``engine.scoring``) ranks by
``d - t_i - t_q``: ``terms`` gives each row's term when it is added (kept beside its code, 8 bytes)
and the query's once per search. The bounds above shift by the same terms (``t_max`` for the
global one), so the search stays exact for the normalised distance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:  # SIMD kernels; the numpy fallback computes the same integers, slower
    import simsimd as _simsimd
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _simsimd = None

DIM = 128
FIT_SAMPLE = 65_536
"""Rows used to fit the grid; fits on fewer rows are redone when the index grows 4x."""
REFIT_GROWTH = 4
SMALL = 4096
"""Below this many rows, the first candidates are picked by a full sort (cheap)."""
SLACK = 1e-9
"""Covers float64 rounding in the bound arithmetic (distances are ~0.1-2)."""

Fetch = Callable[[np.ndarray], np.ndarray]
"""Given ids (int64), return their original float32 embeddings, (n, dim), in that order."""
Terms = Callable[[np.ndarray], np.ndarray]
"""Given embeddings (n, dim), each one's additive term (float64): distance d - t_i - t_q."""


def exact_distances(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The reference: float64 Euclidean distance of each row of ``vectors`` to ``query``."""
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    v = np.asarray(vectors, dtype=np.float32).astype(np.float64)
    return np.sqrt(((v - q) ** 2).sum(axis=1))


def brute_force(
    query: np.ndarray,
    ids: np.ndarray,
    vectors: np.ndarray,
    k: int,
    max_distance: float | None = None,
    terms: Terms | None = None,
) -> list[tuple[int, float]]:
    """Top ``k`` (id, distance) by a full scan, ties by id; the definition of exact (with
    ``terms``: of the normalised distance ``d - t_i - t_q``)."""
    if len(ids) == 0 or k <= 0:
        return []
    d = exact_distances(query, vectors)
    if terms is not None:
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        d = d - terms(np.asarray(vectors, dtype=np.float32)) - float(terms(q)[0])
    order = np.lexsort((ids, d))
    out = [(int(ids[i]), float(d[i])) for i in order[:k]]
    if max_distance is not None:
        out = [(i, dist) for i, dist in out if dist <= max_distance]
    return out


def squared_code_distances(query: np.ndarray, codes: np.ndarray, threads: int = 1) -> np.ndarray:
    """Exact integer |query - row|^2 of int8 codes, as float64 (1-D)."""
    if len(codes) == 0:
        return np.zeros(0)
    if _simsimd is not None:
        out = _simsimd.cdist(query.reshape(1, -1), codes, metric="sqeuclidean", threads=threads)
        return np.asarray(out, dtype=np.float64).reshape(-1)
    out = np.empty(len(codes))
    q = query.astype(np.int32)
    for start in range(0, len(codes), 65536):
        diff = codes[start : start + 65536].astype(np.int32) - q
        out[start : start + 65536] = np.einsum("ij,ij->i", diff, diff)
    return out


class ExactIndex:
    """Exact top-k Euclidean search; ids must be added in increasing order (SQLite rowids)."""

    def __init__(
        self, fetch: Fetch, *, dim: int = DIM, threads: int = 1, terms: Terms | None = None
    ) -> None:
        self.fetch = fetch
        self.dim = dim
        self.threads = threads
        self.terms = terms
        self._t = np.zeros(0, dtype=np.float64)  # each row's term (only with ``terms``)
        self._t_max = 0.0
        self._n = 0  # rows used (alive or dead)
        self._alive_count = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros((0, dim), dtype=np.int8)
        self._err = np.zeros(0, dtype=np.float32)  # e_i, rounded up; inf when deleted
        self._err_max = 0.0
        self._mu: np.ndarray | None = None
        self._step = 1.0
        self._fitted_on = 0

    # ------------------------------------------------------------------ size and memory
    def __len__(self) -> int:
        return self._alive_count

    @property
    def nbytes(self) -> int:
        """Bytes of the rows in use (capacity beyond them is never touched, so not resident)."""
        return self._n * (8 + self.dim + 4 + (8 if self.terms is not None else 0))

    @property
    def last_id(self) -> int:
        return int(self._ids[self._n - 1]) if self._n else -1

    @property
    def needs_refit(self) -> bool:
        """The grid was fitted on few rows and the index has since grown a lot."""
        return self._fitted_on < FIT_SAMPLE and self._alive_count >= REFIT_GROWTH * max(
            self._fitted_on, 256
        )

    # ------------------------------------------------------------------ changes
    def fit(self, sample: np.ndarray) -> None:
        """Fit the grid on ``sample`` (done automatically by the first ``add``)."""
        if self._n:
            raise ValueError("fit an empty index only; rebuild it to refit")
        x = np.asarray(sample, dtype=np.float32).reshape(-1, self.dim).astype(np.float64)
        if len(x) == 0:
            return
        self._mu = x.mean(axis=0)
        spread = float(np.abs(x - self._mu).max())
        self._step = spread / 127.0 if spread > 0 else 1.0
        self._fitted_on = len(x)

    def _prepare(
        self, ids: np.ndarray, vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Validate a batch to add (ids strictly increasing, after every stored id) and encode
        it; None for an empty batch. Fits the code grid on the first batch."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids) == 0:
            return None
        if np.any(np.diff(ids) <= 0) or ids[0] <= self.last_id:
            raise ValueError("ids must be added in strictly increasing order")
        if self._mu is None:
            self.fit(vectors[:FIT_SAMPLE])
        codes, err = self._encode(vectors)
        return ids, vectors, codes, err

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        prepared = self._prepare(ids, vectors)
        if prepared is None:
            return
        ids, vectors, codes, err = prepared
        self._reserve(self._n + len(ids))
        rows = slice(self._n, self._n + len(ids))
        self._ids[rows] = ids
        self._codes[rows] = codes
        self._err[rows] = err
        self._err_max = max(self._err_max, float(err.max()))
        self._add_terms(rows, vectors)
        self._n += len(ids)
        self._alive_count += len(ids)

    def _add_terms(self, rows: slice, vectors: np.ndarray) -> None:
        if self.terms is None:
            return
        if len(self._t) < len(self._ids):
            self._t = _grow(self._t, len(self._ids))
        t = np.asarray(self.terms(vectors), dtype=np.float64)
        self._t[rows] = t
        self._t_max = max(self._t_max, float(t.max()))

    def remove(self, ids: np.ndarray) -> int:
        """Forget ``ids`` (unknown ids are ignored); returns how many were removed."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0 or self._n == 0:
            return 0
        known = self._ids[: self._n]
        pos = np.searchsorted(known, ids)
        pos = pos[pos < self._n]
        pos = pos[np.isin(known[pos], ids)]
        pos = np.unique(pos[np.isfinite(self._err[pos])])
        self._err[pos] = np.inf
        self._alive_count -= len(pos)
        dead = self._n - self._alive_count
        if dead > 1024 and dead > self._n // 4:
            self._compact()
        return len(pos)

    # ------------------------------------------------------------------ search
    def search(
        self, query: np.ndarray, k: int, *, max_distance: float | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, distance) nearest to ``query``, nearest first, ties by id."""
        query = self._checked_query(query)
        if k <= 0 or self._alive_count == 0 or self._mu is None:
            return []
        n = self._n
        qc, eq = self._encode(query.reshape(1, -1))
        eq = float(eq[0])
        d2 = squared_code_distances(qc[0], self._codes[:n], self.threads)
        err = self._err[:n]
        if self._alive_count < n:
            d2[~np.isfinite(err)] = np.inf
        return self._search_codes(query, d2, err, eq, k, max_distance)

    def _checked_query(self, query: np.ndarray) -> np.ndarray:
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,):
            raise ValueError(f"query must have {self.dim} dimensions")
        return query

    def _search_codes(
        self,
        query: np.ndarray,
        d2: np.ndarray,
        err: np.ndarray,
        eq: float,
        k: int,
        max_distance: float | None,
        rows: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """Exact top ``k`` among candidates with squared code distances ``d2`` and code errors
        ``err`` (``rows[i]`` is candidate i's row; all rows in order when None). Shared by the
        approximate index, which passes the rows of the lists it probes."""
        s = self._step

        def at(positions: np.ndarray) -> np.ndarray:
            return positions if rows is None else rows[positions]

        # with terms, ranks by d - t_i - t_q: the bounds shift by them (t_max globally)
        tq = 0.0 if self.terms is None else float(self.terms(query.reshape(1, -1))[0])
        t_rows = None
        if self.terms is not None:
            t_rows = self._t[: self._n] if rows is None else self._t[rows]
        key = d2 if t_rows is None else s * np.sqrt(d2) - t_rows
        # 1. a few promising rows, finished exactly, give the radius T
        exact: dict[int, float] = {}
        self._finish(query, at(self._promising(key, k)), exact, tq)
        radius = np.inf if max_distance is None else float(max_distance)
        if len(exact) >= k:
            radius = min(radius, sorted(exact.values())[k - 1])
        # 2. every row whose lower bound reaches T (global bound first, then per row)
        if np.isfinite(radius):
            reach = radius + tq + self._t_max
            limit = ((reach + eq + self._err_max) / s + SLACK) ** 2
            cand = np.flatnonzero(d2 <= limit)
            lower = s * np.sqrt(d2[cand]) - eq - err[cand].astype(np.float64)
            if t_rows is not None:
                lower = lower - t_rows[cand] - tq
            cand = cand[lower <= radius + SLACK]
        else:
            cand = np.flatnonzero(np.isfinite(d2))
        self._finish(query, at(cand), exact, tq)
        # 3. rank the exact distances
        found = np.fromiter(exact, dtype=np.int64, count=len(exact))
        dist = np.fromiter(exact.values(), dtype=np.float64, count=len(exact))
        ids = self._ids[found]
        order = np.lexsort((ids, dist))[:k]
        out = [(int(ids[i]), float(dist[i])) for i in order]
        if max_distance is not None:
            out = [(i, d) for i, d in out if d <= max_distance]
        return out

    def _promising(self, d2: np.ndarray, k: int) -> np.ndarray:
        """About 2k rows with the smallest code distances (no full sort on large indexes)."""
        want = 2 * k
        n = len(d2)
        if n <= SMALL:
            rows = np.flatnonzero(np.isfinite(d2))
            return rows[np.argsort(d2[rows], kind="stable")[:want]]
        sample = d2[:: max(1, n // SMALL)]
        j = min(len(sample) - 1, max(0, int(np.ceil(want * len(sample) / n)) - 1))
        while True:
            tau = np.partition(sample, j)[j]
            rows = np.flatnonzero(d2 <= tau)
            if len(rows) >= want or j == len(sample) - 1 or not np.isfinite(tau):
                break
            j = min(len(sample) - 1, 4 * j + 4)
        rows = rows[np.isfinite(d2[rows])]
        return rows[np.argsort(d2[rows], kind="stable")[:want]]

    def _finish(
        self, query: np.ndarray, rows: np.ndarray, exact: dict[int, float], tq: float = 0.0
    ) -> None:
        todo = np.array([r for r in rows.tolist() if r not in exact], dtype=np.int64)
        if len(todo):
            d = exact_distances(query, self.fetch(self._ids[todo]))
            if self.terms is not None:
                d = d - self._t[todo] - tq
            exact.update(zip(todo.tolist(), d.tolist(), strict=True))

    # ------------------------------------------------------------------ internals
    def _encode(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int8 codes and the exact reconstruction error of each row (rounded up)."""
        x = vectors.astype(np.float64)
        codes = np.clip(np.rint((x - self._mu) / self._step), -127, 127).astype(np.int8)
        back = codes.astype(np.float64) * self._step + self._mu
        err = np.sqrt(((back - x) ** 2).sum(axis=1))
        err = err * (1 + 1e-12) + 1e-12  # float64 rounding of the error itself
        return codes, np.nextafter(err.astype(np.float32), np.float32(np.inf))

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._ids):
            return
        cap = max(rows, int(len(self._ids) * 1.5), 1024)
        self._ids = _grow(self._ids, cap)
        self._codes = _grow(self._codes, cap)
        self._err = _grow(self._err, cap)

    def _compact(self) -> None:
        alive = np.flatnonzero(np.isfinite(self._err[: self._n]))
        count = len(alive)
        if count == self._n:
            return
        self._ids[:count] = self._ids[alive]
        self._codes[:count] = self._codes[alive]
        self._err[:count] = self._err[alive]
        if self.terms is not None:
            self._t[:count] = self._t[alive]
        self._n = self._alive_count = count


def _grow(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out
