"""The scanner the suite runs over every audit record finds embeddings and image bytes."""

from __future__ import annotations

import base64

import numpy as np

from faceledger.governance.privacy import biometric_leaks
from testdata import PORTRAITS


def test_clean_record_passes() -> None:
    record = {
        "image_sha256": ["a" * 64],
        "outcome": {"results": [{"face_id": "f1", "similarity": 99.5}], "count": 3},
        "request": {"threshold": 99.0, "face_ids": [f"id{i}" for i in range(100)]},
    }
    assert biometric_leaks(record) == []


def test_embeddings_and_image_bytes_are_found(engine) -> None:
    face = engine.represent(PORTRAITS[0])[0]
    vector = [float(x) for x in face.embedding]
    jpeg = base64.b64encode(PORTRAITS[0].read_bytes()[:600]).decode()
    raw = base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()
    assert biometric_leaks({"outcome": {"embedding": vector}}) == [
        "$.outcome.embedding: a list of 128 numbers (an embedding?)"
    ]
    assert "image bytes" in biometric_leaks({"request": {"image": jpeg}})[0]
    assert "encoded data" in biometric_leaks({"x": [raw]})[0]
