"""Normalised scoring (engine.scoring): a label-free fit, its id, its files, its scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.engine import scoring as sc
from faceledger.engine.similarity import DEFAULT_MODEL_ID, distance_from_similarity
from faceledger.errors import ModelError


def two_groups(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Unit-ish vectors in two regions of face space; group A is denser (more close
    impostors), as some demographic groups are for the shipped model."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 2
    centre = np.zeros((2, 128))
    centre[0, 0], centre[1, 1] = 1.0, 1.0
    spread = np.array([0.022, 0.026])[group][:, None]
    return (centre[group] + rng.normal(size=(n, 128)) * spread).astype(np.float32), group


def fmr(emb: np.ndarray, group: np.ndarray, g: int, distance_fn, t: float) -> float:
    idx = np.flatnonzero(group == g)
    hits = pairs = 0
    for a in idx:
        d = distance_fn(emb[a], emb[idx[idx > a]])
        hits += int((d <= t).sum())
        pairs += len(d)
    return hits / pairs


def test_fit_is_deterministic_and_its_id_names_its_parameters() -> None:
    emb, _ = two_groups(0, 120)
    a = sc.fit(emb, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2)
    b = sc.fit(emb, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2)
    assert a.scoring_id == b.scoring_id
    assert a.scoring_id.startswith(DEFAULT_MODEL_ID + "+cn1.")
    np.testing.assert_array_equal(a.terms, b.terms)
    assert np.any(a.terms != 0), "the denser cluster gets a term"
    other = sc.fit(emb, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2, seed=1)
    assert other.scoring_id != a.scoring_id or np.array_equal(other.terms, a.terms)


def test_saved_scoring_loads_to_the_same_id_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    emb, _ = two_groups(1, 120)
    fitted = sc.fit(emb, None, base_model_id=DEFAULT_MODEL_ID, clusters=3, target=1e-2)
    file = fitted.save(tmp_path)
    loaded = sc.load(tmp_path, fitted.scoring_id.rsplit(".", 1)[-1])
    assert loaded.scoring_id == fitted.scoring_id
    np.testing.assert_array_equal(loaded.face_terms(emb), fitted.face_terms(emb))
    file.write_text(file.read_text().replace('"terms": [', '"terms": [0.01, ', 1))
    with pytest.raises(ModelError):
        sc.on_file(tmp_path)
    with pytest.raises(ModelError, match="no scoring"):
        sc.load(tmp_path / "empty", "abc")


def test_an_unloaded_scoring_id_is_an_error_not_raw_scores() -> None:
    assert sc.get(DEFAULT_MODEL_ID) is None
    with pytest.raises(ModelError, match="not loaded"):
        sc.get(DEFAULT_MODEL_ID + "+cn1.000000000000")


def test_too_few_faces_to_fit_is_a_clear_error() -> None:
    emb, _ = two_groups(2, 20)
    with pytest.raises(ModelError, match="at least"):
        sc.fit(emb, None, base_model_id=DEFAULT_MODEL_ID)


def test_normalisation_narrows_the_gap_on_held_out_faces() -> None:
    fit_emb, _ = two_groups(3)
    scoring = sc.fit(fit_emb, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2)
    sid = sc.register(scoring)
    test_emb, group = two_groups(4)

    def raw(q, v):
        return np.linalg.norm(v.astype(np.float64) - q, axis=1)

    def norm(q, v):
        return sc.scored_distances(sid, q, v)

    # the same overall rate on both scales: thresholds at the same quantile of all pairs
    all_raw = np.concatenate([raw(test_emb[i], test_emb[i + 1 :]) for i in range(len(test_emb))])
    all_norm = np.concatenate(
        [norm(test_emb[i], test_emb[i + 1 :]) for i in range(len(test_emb) - 1)]
    )
    q = 0.01
    t_raw, t_norm = np.quantile(all_raw, q), np.quantile(all_norm, q)
    before = fmr(test_emb, group, 0, raw, t_raw) / max(fmr(test_emb, group, 1, raw, t_raw), 1e-9)
    after = fmr(test_emb, group, 0, norm, t_norm) / max(fmr(test_emb, group, 1, norm, t_norm), 1e-9)
    assert before > 5
    assert after < before / 2
    assert distance_from_similarity(99, sid) == pytest.approx(scoring.d99)
