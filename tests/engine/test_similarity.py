"""The similarity mapping is monotonic, bounded and invertible."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from faceledger.engine.similarity import distance_from_similarity, similarity_from_distance

distances = st.floats(min_value=0.0, max_value=4.0, allow_nan=False)


@given(distances, distances)
def test_monotonic_decreasing(a: float, b: float) -> None:
    if a < b:
        assert similarity_from_distance(a) >= similarity_from_distance(b)


@given(distances)
def test_bounded(d: float) -> None:
    assert 0.0 <= similarity_from_distance(d) <= 100.0


@given(st.floats(min_value=0.01, max_value=99.99))
def test_inverse(s: float) -> None:
    assert math.isclose(similarity_from_distance(distance_from_similarity(s)), s, rel_tol=1e-9)
