"""In-memory exact nearest-neighbour search over a collection's embeddings.

Exact means: the ids and distances returned are those a brute-force scan returns, computed
with :func:`exact_distances` (float64 Euclidean distance on the stored float32 embeddings),
ties broken by insertion order. It is tested against brute force with hypothesis.

How it is fast without being approximate (a lower-bound filter, then an exact finish):

1. Vectors are kept *centred and rotated by PCA* (``y = R (x - mu)``, R orthogonal), so
   distances are unchanged, and most of the variance lands in the first ``head`` components.
2. A query computes the partial squared distance on the first ``head`` components for every
   row (one float32 matrix-vector product over a contiguous N x head block). A partial
   distance is a lower bound of the full distance.
3. The rows with the smallest bounds get their full distance; the k-th best of those gives a
   radius T. Every row whose bound is within T (plus rounding margins, see below) gets its full
   distance too; no other row can be in the top k.
4. The few survivors' distances are recomputed from the original float32 embeddings (handed in
   by ``fetch``, the SQLite store reads them from disk) in float64, and ranked by (distance, id).

Rounding is accounted for, never assumed away: the rotated float32 copy differs from the exact
rotation by at most ``E`` per row (measured when rows are added), the float32 partial distances
carry a bounded error ``margin``; both widen the candidate set, so nothing the brute force would
return can be filtered out. Memory: one float32 copy (N x 128 x 4 bytes = 512 MB per 1M faces)
plus ids and bounds (~13 bytes per face); originals stay in SQLite.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DIM = 128
HEAD = 24
"""Components used for the lower bound (chosen by benchmarks/search.py on this machine)."""
BRUTE_FORCE_BELOW = 4096
"""Below this many rows, every row gets its full distance (the filter does not pay)."""
FIT_MIN = 1024
"""PCA is fitted once the index holds at least this many rows (identity rotation before)."""
REFIT_GROWTH = 4
"""Refit the rotation when the index has grown this many times since the last fit."""
FIT_SAMPLE = 50_000

Fetch = Callable[[np.ndarray], np.ndarray]
"""Given ids (int64), return their original float32 embeddings, (n, DIM), in that order."""


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
) -> list[tuple[int, float]]:
    """Top ``k`` (id, distance) by a full scan, ties by id; the definition of exact."""
    if len(ids) == 0 or k <= 0:
        return []
    d = exact_distances(query, vectors)
    order = np.lexsort((ids, d))
    out = [(int(ids[i]), float(d[i])) for i in order[:k]]
    if max_distance is not None:
        out = [(i, dist) for i, dist in out if dist <= max_distance]
    return out


class ExactIndex:
    """Exact top-k Euclidean search; ids must be added in increasing order (SQLite rowids)."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        dim: int = DIM,
        head: int = HEAD,
        brute_force_below: int = BRUTE_FORCE_BELOW,
        fit_min: int = FIT_MIN,
    ) -> None:
        self.fetch = fetch
        self.dim = dim
        self.head = min(head, dim)
        self.brute_force_below = brute_force_below
        self.fit_min = fit_min
        self._n = 0  # rows used (alive or dead)
        self._alive_count = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._head = np.zeros((0, self.head), dtype=np.float32)
        self._tail = np.zeros((0, dim - self.head), dtype=np.float32)
        self._hn = np.zeros(0, dtype=np.float32)  # squared norm of the head; inf when deleted
        self._mu = np.zeros(dim, dtype=np.float64)
        self._rot = np.eye(dim, dtype=np.float64)
        self._fitted_at = 0
        self._err = 0.0  # E: max distance between a stored row and its exact rotation

    # ------------------------------------------------------------------ size and memory
    def __len__(self) -> int:
        return self._alive_count

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._ids, self._head, self._tail, self._hn))

    @property
    def last_id(self) -> int:
        return int(self._ids[self._n - 1]) if self._n else -1

    # ------------------------------------------------------------------ changes
    def add(self, ids: np.ndarray, vectors: np.ndarray, *, refit: bool = True) -> None:
        """Append rows; ``refit=False`` while bulk loading (then call :meth:`refit` once)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids) == 0:
            return
        if np.any(np.diff(ids) <= 0) or ids[0] <= self.last_id:
            raise ValueError("ids must be added in strictly increasing order")
        total = self._alive_count + len(ids)
        if refit and (
            self._fitted_at == 0
            and total >= self.fit_min
            or (self._fitted_at and total >= REFIT_GROWTH * self._fitted_at)
        ):
            self._refit(vectors)
        self._reserve(self._n + len(ids))
        rows = slice(self._n, self._n + len(ids))
        y = self._rotate(vectors)
        self._ids[rows] = ids
        self._head[rows] = y[:, : self.head]
        self._tail[rows] = y[:, self.head :]
        self._hn[rows] = np.einsum("ij,ij->i", self._head[rows], self._head[rows])
        self._n += len(ids)
        self._alive_count += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        """Forget ``ids`` (unknown ids are ignored); returns how many were removed."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0 or self._n == 0:
            return 0
        known = self._ids[: self._n]
        pos = np.searchsorted(known, ids)
        pos = pos[pos < self._n]
        pos = pos[np.isin(known[pos], ids)]
        pos = pos[np.isfinite(self._hn[pos])]
        self._hn[pos] = np.inf
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
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,):
            raise ValueError(f"query must have {self.dim} dimensions")
        if k <= 0 or self._alive_count == 0:
            return []
        n = self._n
        qr = (query.astype(np.float64) - self._mu) @ self._rot.T
        slack = self._err + 1e-9 * (1.0 + float(np.abs(qr).sum()))
        limit = np.inf if max_distance is None else float(max_distance)
        alive = np.flatnonzero(np.isfinite(self._hn[:n]))
        if self._alive_count <= max(self.brute_force_below, k):
            cand = alive
        else:
            qh = qr[: self.head].astype(np.float32)
            qn = float(qh @ qh)
            hd = self._hn[:n] - 2.0 * (self._head[:n] @ qh) + np.float32(qn)
            # float32 error of hd, bounded by gamma(head) * (|x|^2 + |q|^2 + 2|x||q|), generously
            hmax = float(self._hn[alive].max()) if len(alive) else 0.0
            margin = 64 * (self.head + 4) * 2.0**-24 * (hmax + qn + 2 * np.sqrt(hmax * qn)) + 1e-30
            m = min(len(alive), max(8 * k, 64))
            pool = np.argpartition(hd, m - 1)[:m]
            pool = pool[np.isfinite(hd[pool])]
            radius = limit + slack
            if len(pool) >= k:
                dpool = self._rotated_distances(pool, qr)
                radius = min(radius, float(np.partition(dpool, k - 1)[k - 1]) + 2 * slack)
            bound = np.inf if not np.isfinite(radius) else (radius + slack) ** 2 + margin
            cand = np.flatnonzero(hd <= np.float32(bound) * np.float32(1 + 1e-6))
            cand = cand[np.isfinite(self._hn[cand])]
        if len(cand) == 0:
            return []
        d = self._rotated_distances(cand, qr)
        # |d - true| <= slack for every row: keep rows that can still be in the top k
        top = float(np.partition(d, min(k, len(d)) - 1)[min(k, len(d)) - 1])
        keep = (d - slack <= top + slack) & (d - slack <= limit)
        surv = cand[keep]
        if len(surv) == 0:
            return []
        ids = self._ids[surv]
        exact = exact_distances(query, self.fetch(ids))
        order = np.lexsort((ids, exact))[:k]
        out = [(int(ids[i]), float(exact[i])) for i in order]
        if max_distance is not None:
            out = [(i, dist) for i, dist in out if dist <= max_distance]
        return out

    def _rotated_distances(self, rows: np.ndarray, qr: np.ndarray) -> np.ndarray:
        h = self._head[rows].astype(np.float64) - qr[: self.head]
        t = self._tail[rows].astype(np.float64) - qr[self.head :]
        return np.sqrt(np.einsum("ij,ij->i", h, h) + np.einsum("ij,ij->i", t, t))

    # ------------------------------------------------------------------ internals
    def _rotate(self, vectors: np.ndarray) -> np.ndarray:
        exact = (vectors.astype(np.float64) - self._mu) @ self._rot.T
        stored = exact.astype(np.float32)
        if len(stored):
            err = np.sqrt(((stored.astype(np.float64) - exact) ** 2).sum(axis=1)).max()
            self._err = max(self._err, float(err))
        return stored

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._ids):
            return
        cap = max(rows, int(len(self._ids) * 1.5), 1024)
        self._ids = _grow(self._ids, cap)
        self._head = _grow(self._head, cap)
        self._tail = _grow(self._tail, cap)
        self._hn = _grow(self._hn, cap)

    def _stored(self, rows: np.ndarray | slice) -> np.ndarray:
        """Back to the original space (float64); differs from the originals by at most E."""
        y = np.concatenate([self._head[rows], self._tail[rows]], axis=1).astype(np.float64)
        return y @ self._rot + self._mu

    def fit(self, sample: np.ndarray, expected_rows: int | None = None) -> None:
        """Fit the rotation on ``sample`` before bulk loading (the store calls this on open).

        ``expected_rows``: how many rows will be loaded, so no refit happens while loading.
        """
        sample = np.asarray(sample, dtype=np.float32).reshape(-1, self.dim)
        if len(sample) < min(self.fit_min, expected_rows or self.fit_min):
            return
        self._set_rotation(sample.astype(np.float64))
        self._fitted_at = max(len(sample), expected_rows or 0, self._alive_count)

    def refit(self) -> None:
        """Fit the rotation to the rows held (after a bulk load); no-op below ``fit_min``."""
        if self._alive_count >= self.fit_min:
            self._refit(np.zeros((0, self.dim), dtype=np.float32))

    def _refit(self, incoming: np.ndarray) -> None:
        self._compact()
        n = self._n
        rng = np.random.default_rng(0)
        pick = np.arange(n) if n <= FIT_SAMPLE else np.sort(rng.choice(n, FIT_SAMPLE, False))
        sample = np.concatenate([self._stored(pick), incoming[:FIT_SAMPLE].astype(np.float64)])
        self._set_rotation(sample)
        self._fitted_at = n + len(incoming)

    def _set_rotation(self, sample: np.ndarray) -> None:
        """Adopt the PCA of ``sample``; rows already stored are re-expressed in place."""
        mu = sample.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(sample - mu, rowvar=False))
        q, r = np.linalg.qr(vectors[:, np.argsort(values)[::-1]])
        rot = (q * np.sign(np.diag(r))).T  # rows: components, largest variance first
        self._compact()
        old_mu, old_rot, prev_err = self._mu, self._rot, self._err
        self._mu, self._rot = mu, rot
        err = 0.0
        for start in range(0, self._n, 65536):
            rows = slice(start, min(self._n, start + 65536))
            y = np.concatenate([self._head[rows], self._tail[rows]], axis=1).astype(np.float64)
            exact = (y @ old_rot + old_mu - mu) @ rot.T
            stored = exact.astype(np.float32)
            err = max(err, float(np.sqrt(((stored - exact) ** 2).sum(axis=1)).max()))
            self._head[rows] = stored[:, : self.head]
            self._tail[rows] = stored[:, self.head :]
            self._hn[rows] = np.einsum("ij,ij->i", self._head[rows], self._head[rows])
        # rows already stored carry the error of their previous copy on top of the new one
        self._err = prev_err + err if self._n else 0.0

    def _compact(self) -> None:
        alive = np.flatnonzero(np.isfinite(self._hn[: self._n]))
        count = len(alive)
        if count == self._n:
            return
        self._ids[:count] = self._ids[alive]
        self._head[:count] = self._head[alive]
        self._tail[:count] = self._tail[alive]
        self._hn[:count] = self._hn[alive]
        self._n = self._alive_count = count


def _grow(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out
