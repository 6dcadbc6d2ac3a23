"""The opt-in approximate index: recall measured on face-like vectors, distances never lie."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.store.approximate import NPROBE, ApproximateIndex
from faceledger.store.index import ExactIndex, brute_force, exact_distances

N = 20_000
K = 10


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian vectors with a spectrum like real face embeddings (LFW: the top 10 of 128
    principal components hold about 47% of the variance, the top 40 about 85%); 200 queries,
    half a gallery vector moved by a same-person offset (norm 0.3), half fresh draws."""
    rng = np.random.default_rng(5)
    scale = 0.09 * np.exp(-np.arange(128) / 42.0)  # std; variance decays as exp(-i/21)
    basis = np.linalg.qr(rng.standard_normal((128, 128)))[0]
    mean = rng.normal(size=128) * 0.05

    def draw(n: int) -> np.ndarray:
        return (mean + (rng.standard_normal((n, 128)) * scale) @ basis.T).astype(np.float32)

    x = draw(N)
    offset = rng.standard_normal((100, 128))
    offset *= 0.3 / np.linalg.norm(offset, axis=1, keepdims=True)
    mated = x[rng.integers(0, N, 100)] + offset
    queries = np.concatenate([mated, draw(100)]).astype(np.float32)
    return np.arange(N, dtype=np.int64) * 3 + 1, x, queries


def _pair(ids: np.ndarray, x: np.ndarray, **options: object):  # noqa: ANN202
    lookup = {int(i): r for r, i in enumerate(ids)}

    def fetch(s: np.ndarray) -> np.ndarray:
        return x[[lookup[int(i)] for i in s]]

    exact, approx = ExactIndex(fetch), ApproximateIndex(fetch, **options)  # type: ignore[arg-type]
    for start in range(0, len(ids), 20_000):
        exact.add(ids[start : start + 20_000], x[start : start + 20_000])
        approx.add(ids[start : start + 20_000], x[start : start + 20_000])
    return exact, approx, lookup


def test_recall_at_default_nprobe_and_distances_are_exact(data) -> None:
    ids, x, queries = data
    exact, approx, lookup = _pair(ids, x)
    assert approx.nprobe == NPROBE and len(approx) == N
    assert approx.nlist == N // 64 and approx.nlist > 2 * NPROBE  # under half probed
    recalls = []
    for q in queries:
        truth = {i for i, _ in exact.search(q, K)}
        got = approx.search(q, K)
        assert len(got) == K
        assert [d for _, d in got] == sorted(d for _, d in got)
        # every returned distance is the exact distance of that id: results may miss, never lie
        rows = [lookup[i] for i, _ in got]
        assert [d for _, d in got] == exact_distances(q, x[rows]).tolist()
        recalls.append(len(truth & {i for i, _ in got}) / K)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_probing_every_list_is_brute_force_and_follows_removals(data) -> None:
    ids, x, queries = data
    ids, x = ids[:6000], x[:6000]
    _, approx, _ = _pair(ids, x)
    approx.nprobe = approx.nlist
    gone = ids[np.random.default_rng(1).choice(len(ids), 2500, replace=False)]  # compacts
    assert approx.remove(gone) == len(gone)
    keep = ~np.isin(ids, gone)
    assert len(approx) == keep.sum()
    new_ids = ids[-1] + 1 + np.arange(50)
    approx.add(new_ids, x[:50])
    all_ids = np.concatenate([ids[keep], new_ids])
    all_x = np.concatenate([x[keep], x[:50]])
    approx.fetch = lambda s: all_x[np.searchsorted(all_ids, s)]
    for q in queries[::20]:
        assert approx.search(q, K) == brute_force(q, all_ids, all_x, K)
        limited = approx.search(q, K, max_distance=0.5)
        assert limited == brute_force(q, all_ids, all_x, K, 0.5)


def test_per_face_terms_probing_every_list_is_brute_force(data) -> None:
    """With a normalised scoring's terms, both indexes rank by d - t_i - t_q: the exact one,
    and the approximate one probing every list, return the brute-force answer, also after
    deletions compact them."""
    ids, x, queries = data
    ids, x = ids[:6000], x[:6000]

    def terms(v: np.ndarray) -> np.ndarray:
        return 0.05 * np.tanh(20 * np.asarray(v, dtype=np.float64)[:, 0])

    lookup = {int(i): r for r, i in enumerate(ids)}

    def fetch(s: np.ndarray) -> np.ndarray:
        return x[[lookup[int(i)] for i in s]]

    indexes = [ExactIndex(fetch, terms=terms), ApproximateIndex(fetch, terms=terms, nprobe=10**6)]
    keep = np.ones(len(ids), dtype=bool)
    keep[::3] = False  # 2,000 deleted: more than a quarter, so both compact
    for index in indexes:
        index.add(ids, x)
        assert index.remove(ids[::3]) == 2000 and index._n == 4000
    for q in queries[:20]:
        expected = brute_force(q, ids[keep], x[keep], K, terms=terms)
        assert expected != brute_force(q, ids[keep], x[keep], K)
        for index in indexes:
            assert index.search(q, K) == expected
