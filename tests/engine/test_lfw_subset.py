"""Verification on a real LFW subset at the default threshold (full protocol: benchmarks/)."""

from __future__ import annotations

import numpy as np

from faceledger import DEFAULT_THRESHOLD, Engine
from faceledger.datasets.lfw import IMAGE_DIR, read_pairs
from testdata import dataset

PAIRS_PER_CLASS = 60


def test_lfw_fold_subset_accuracy(shared_data, engine: Engine) -> None:
    """60 genuine + 60 impostor pairs of fold 1 (120 pairs, about 240 images)."""
    lfw = dataset(shared_data, "lfw")
    fold = [p for p in read_pairs(lfw) if p.fold == 0]
    pairs = [p for p in fold if p.same][:PAIRS_PER_CLASS]
    pairs += [p for p in fold if not p.same][:PAIRS_PER_CLASS]
    images = sorted({p.left for p in pairs} | {p.right for p in pairs})
    faces = {}
    for rel in images:
        found = engine.represent(lfw / IMAGE_DIR / rel)
        if found:  # LFW's subject is the face nearest the centre
            faces[rel] = min(
                found, key=lambda f: abs(f.box.center[0] - 125) + abs(f.box.center[1] - 125)
            )
    assert len(faces) >= len(images) - 2, "HOG misses at most a couple of LFW faces"
    correct = []
    for p in pairs:
        if p.left in faces and p.right in faces:
            match = engine.compare_faces(faces[p.left], [faces[p.right]]).matches[0].match
        else:
            match = False
        correct.append(match == p.same)
    accuracy = float(np.mean(correct))
    genuine_ok = float(np.mean(correct[:PAIRS_PER_CLASS]))
    impostor_ok = float(np.mean(correct[PAIRS_PER_CLASS:]))
    assert impostor_ok == 1.0, f"false match at similarity {DEFAULT_THRESHOLD}"
    assert genuine_ok >= 0.9, genuine_ok
    assert accuracy >= 0.95, accuracy
