from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.fairness.datasets import AuditSet


def make_set(
    n_subjects: int = 240, per_subject: int = 3, seed: int = 1, spread: float = 0.04
) -> tuple[AuditSet, np.ndarray]:
    """Synthetic faces: subject centres in 128-d, images scattered around them.

    Subjects cycle through race (White, Black, unlabelled) and gender (Female, Male)."""
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    subj = np.arange(n) // per_subject
    subjects = [f"s{k}" for k in subj]
    race = [["White", "Black", ""][k % 3] for k in subj]
    gender = [["Female", "Male"][k % 2] for k in subj]
    centres = rng.normal(size=(n_subjects, 128)) * spread
    emb = (centres[subj] + rng.normal(size=(n, 128)) * 0.03).astype(np.float32)
    audit_set = AuditSet(
        "synthetic",
        Path("."),
        [f"{k}.jpg" for k in range(n)],
        subjects,
        {"race": race, "gender": gender},
    )
    return audit_set, emb


@pytest.fixture
def synthetic() -> tuple[AuditSet, np.ndarray]:
    return make_set()
