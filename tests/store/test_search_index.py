"""The in-memory index returns exactly what brute force returns (hypothesis property tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from faceledger.store.index import ExactIndex, brute_force


def _index(ids: np.ndarray, vectors: np.ndarray, **options: object) -> ExactIndex:
    lookup = {int(i): r for r, i in enumerate(ids)}
    return ExactIndex(lambda s: vectors[[lookup[int(i)] for i in s]], **options)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    vectors=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 60), st.just(8)),
        elements=st.floats(-4, 4, width=32) | st.sampled_from([0.0, 1.0, -1.0]),
    ),
    k=st.integers(1, 12),
    query_row=st.integers(0, 59),
    deletions=st.lists(st.integers(0, 59), max_size=20),
    max_distance=st.none() | st.floats(0, 10),
)
def test_small_adversarial_inputs_match_brute_force(
    vectors, k, query_row, deletions, max_distance
) -> None:
    """Ties, duplicates, zeros, tiny dimensions, a grid fitted on 7 rows: hypothesis hunts."""
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64) * 2 + 1
    index = _index(ids, vectors, dim=8)
    for start in range(0, n, 7):
        index.add(ids[start : start + 7], vectors[start : start + 7])
    gone = ids[[d for d in deletions if d < n]]
    index.remove(gone)
    keep = ~np.isin(ids, gone)
    query = vectors[query_row % n] * np.float32(0.9)
    expected = brute_force(query, ids[keep], vectors[keep], k, max_distance)
    assert index.search(query, k, max_distance=max_distance) == expected


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6000),
    k=st.integers(1, 50),
    duplicates=st.floats(0, 0.3),
    spectrum=st.floats(0.0, 3.0),
    scale=st.sampled_from([1e-3, 0.1, 1.0, 50.0]),
    delete_fraction=st.floats(0, 0.5),
    max_distance=st.none() | st.floats(0, 2),
)
def test_face_like_vectors_match_brute_force(
    seed, n, k, duplicates, spectrum, scale, delete_fraction, max_distance
) -> None:
    """128-D vectors with a decaying spectrum (like embeddings), near-duplicates and deletions;
    the grid is fitted on the first batch, so later rows may be clipped (larger bounds)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(128, 128)) * np.exp(-spectrum * np.linspace(0, 1, 128))
    vectors = (rng.normal(size=(n, 128)) @ basis * 0.05 * scale).astype(np.float32)
    dup = rng.random(n) < duplicates
    if dup.any():
        vectors[dup] = vectors[rng.integers(0, n, dup.sum())]
    ids = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
    index = _index(ids, vectors)
    for start in range(0, n, 997):
        index.add(ids[start : start + 997], vectors[start : start + 997])
    gone = ids[rng.random(n) < delete_fraction]
    index.remove(gone)
    keep = ~np.isin(ids, gone)
    assert len(index) == int(keep.sum())
    md = None if max_distance is None else max_distance * scale
    for _ in range(5):
        query = vectors[rng.integers(n)] + rng.normal(size=128).astype(np.float32) * 0.02 * scale
        expected = brute_force(query, ids[keep], vectors[keep], k, md)
        assert index.search(query, k, max_distance=md) == expected


def test_ids_must_increase() -> None:
    index = _index(np.arange(3), np.zeros((3, 128), np.float32))
    index.add(np.array([5]), np.zeros((1, 128), np.float32))
    try:
        index.add(np.array([4]), np.zeros((1, 128), np.float32))
    except ValueError:
        return
    raise AssertionError("adding a smaller id must be refused")


def test_large_index_takes_the_sampled_candidate_path() -> None:
    """Above SMALL rows the first candidates come from a sampled threshold, not a sort."""
    rng = np.random.default_rng(5)
    n = 40_000
    vectors = (rng.normal(size=(n, 128)) * 0.08).astype(np.float32)
    vectors[100:120] = vectors[7]  # exact ties across the k-th place
    ids = np.arange(n, dtype=np.int64)
    index = _index(ids, vectors)
    index.add(ids, vectors)
    for q in (vectors[7], vectors[5], rng.normal(size=128).astype(np.float32) * 0.08):
        for k in (1, 10, 25):
            assert index.search(q, k) == brute_force(q, ids, vectors, k)
    assert index.nbytes == n * (128 + 12)


def test_numpy_fallback_computes_the_same_integers(monkeypatch) -> None:
    from faceledger.store import index as module

    rng = np.random.default_rng(2)
    codes = rng.integers(-127, 128, size=(3000, 128), dtype=np.int8)
    query = rng.integers(-127, 128, size=128, dtype=np.int8)
    fast = module.squared_code_distances(query, codes)
    monkeypatch.setattr(module, "_simsimd", None)
    slow = module.squared_code_distances(query, codes)
    reference = ((codes.astype(np.int64) - query.astype(np.int64)) ** 2).sum(axis=1)
    assert np.array_equal(fast, reference) and np.array_equal(slow, reference)


def _terms(v: np.ndarray) -> np.ndarray:
    """A per-row term as a normalised scoring gives one (row-wise, deterministic)."""
    return 0.3 * np.tanh(np.asarray(v, dtype=np.float64)[:, 0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    k=st.integers(1, 20),
    delete_fraction=st.floats(0, 0.5),
    max_distance=st.none() | st.floats(-0.5, 3),
)
def test_per_face_terms_keep_the_search_exact(seed, n, k, delete_fraction, max_distance) -> None:
    """Ranked by d - t_i - t_q (a normalised scoring): still exactly brute force."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    ids = np.arange(n, dtype=np.int64) * 3 + 2
    index = _index(ids, vectors, dim=8, terms=_terms)
    for start in range(0, n, 50):
        index.add(ids[start : start + 50], vectors[start : start + 50])
    gone = ids[rng.random(n) < delete_fraction]
    index.remove(gone)
    keep = ~np.isin(ids, gone)
    query = rng.normal(size=8).astype(np.float32)
    expected = brute_force(query, ids[keep], vectors[keep], k, max_distance, terms=_terms)
    assert index.search(query, k, max_distance=max_distance) == expected
    for face_id, d in expected:  # the normalised distance, not the raw one
        row = vectors[int(np.flatnonzero(ids == face_id)[0])]
        raw = float(np.linalg.norm(row.astype(np.float64) - query.astype(np.float64)))
        t = _terms(np.stack([row, query]))
        assert abs(d - (raw - t[0] - t[1])) < 1e-9
