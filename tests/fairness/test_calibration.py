"""The audit's normalisation section: cross-fitted on any dataset (manifests too), graded on
held-out subjects, raw and normalised side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceledger.engine.similarity import DEFAULT_MODEL_ID
from faceledger.fairness import calibration
from faceledger.fairness.audit import AuditResult
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.report import extra_sentences


def people(name: str, seed: int, n_subjects: int = 240) -> tuple[AuditSet, np.ndarray]:
    """Two images per subject; group A's faces are denser than B's (more false matches)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_subjects) % 2
    centre = np.zeros((2, 128))
    centre[0, 0], centre[1, 1] = 1.0, 1.0
    spread = np.array([0.022, 0.026])[group]
    faces = centre[group] + rng.normal(size=(n_subjects, 128)) * spread[:, None]
    emb = np.repeat(faces, 2, axis=0) + rng.normal(size=(2 * n_subjects, 128)) * 0.01
    subjects = [f"s{i // 2}" for i in range(2 * n_subjects)]
    race = [["A", "B"][group[i // 2]] for i in range(2 * n_subjects)]
    audit_set = AuditSet(
        name, Path("."), [f"{i}.jpg" for i in range(2 * n_subjects)], subjects,
        {"race": race, "gender": ["Female"] * (2 * n_subjects)}, meta={"manifest": "x.csv"},
    )  # fmt: skip
    return audit_set, emb.astype(np.float32)


def result_of(*sets: tuple[AuditSet, np.ndarray]) -> AuditResult:
    return AuditResult(
        thresholds={}, datasets={}, evaluations=[], curves={},
        embeddings={s.name: e for s, e in sets}, audit_sets={s.name: s for s, _ in sets},
        settings={"model": DEFAULT_MODEL_ID},
    )  # fmt: skip


def test_folds_hold_whole_subjects_and_never_overlap() -> None:
    s, _ = people("m", 0, 60)
    a, b = calibration.folds(s, seed=0)
    assert len(a) + len(b) == len(s) and not set(a) & set(b)
    assert not {s.subjects[i] for i in a} & {s.subjects[i] for i in b}


def test_runs_on_a_manifest_alone_and_reports_raw_and_normalised() -> None:
    result = result_of(people("my-manifest", 1))
    cal = calibration.run(result, log=lambda _m: None, clusters=4, target=1e-2)
    assert [f["source"] for f in cal["fits"]] == ["audit fold 0", "audit fold 1"]
    assert cal["fits"][0]["scoring_id"] != cal["fits"][1]["scoring_id"]
    (table,) = cal["tables"]
    assert table["dataset"] == "my-manifest" and table["grouping"] == "race×gender"
    groups = {r["group"]: r for r in table["rows"]}
    assert set(groups) == {"A Female", "B Female"}
    total_pairs = sum(r["impostor_pairs"] for r in groups.values())
    assert 0 < total_pairs < 240 * 239 * 2, "only pairs within each held-out half"
    for r in groups.values():
        assert r["raw_fmr"] == r["raw_false_matches"] / r["impostor_pairs"]
    result.calibration = cal
    lines = [line for line in extra_sentences(result) if line.startswith("Normalisation")]
    assert any("A Female" in line and "→" in line for line in lines)
    assert lines[-1].startswith("Normalisation goal:")


def test_lfw_accuracy_is_measured_where_there_are_genuine_pairs() -> None:
    lfw, emb = people("lfw", 2)
    cal = calibration.run(result_of((lfw, emb)), log=lambda _m: None, clusters=4, target=1e-2)
    tar = cal["lfw_tar_at_far_1e-3"]
    assert 0.9 < tar["raw"] <= 1.0 and 0.9 < tar["normalized"] <= 1.0
    assert "LFW TAR at FAR 1e-3" in cal["verdict"]
