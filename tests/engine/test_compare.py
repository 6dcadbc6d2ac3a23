"""Same-person pairs from transformations of one portrait match; different members do not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from faceledger import DEFAULT_THRESHOLD, Engine, ModelError
from testdata import encode, group_photo


def _variants(path) -> dict[str, bytes]:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "crop": encode(img.crop((w // 8, 0, w - w // 8, int(h * 0.8))), "PNG"),
        "upscale": encode(img.resize((w * 2, h * 2), Image.Resampling.BICUBIC), "PNG"),
        "downscale": encode(img.resize((int(w * 0.7), int(h * 0.7))), "PNG"),
        "jpeg-q25": encode(img, "JPEG", quality=25),
        "exif-rotated": encode(img.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif),
        "grayscale": encode(img.convert("L"), "JPEG", quality=90),
    }


def test_represent_gives_embeddings_with_model_id(engine: Engine, portraits) -> None:
    faces = engine.represent(portraits[0])
    assert len(faces) == 1
    emb = faces[0].embedding
    assert emb is not None and emb.shape == (128,) and emb.dtype == np.float32
    assert faces[0].model_id == engine.model_id == "dlib-resnet-v1+tta6"
    assert abs(float((emb**2).sum()) - 1.0) < 1e-5  # tta6 vectors have unit length
    assert Engine(tta=False).model_id == "dlib-resnet-v1"
    again = engine.represent(portraits[0].read_bytes())[0].embedding
    assert np.allclose(emb, again, atol=1e-6)


@pytest.mark.parametrize("index", [0, 2, 4])
def test_transformations_of_one_portrait_match(engine: Engine, portraits, index: int) -> None:
    for name, data in _variants(portraits[index]).items():
        result = engine.compare(portraits[index], data)
        assert result.best is not None, name
        assert result.best.match, (name, result.best.similarity)
        assert result.best.similarity >= 99.0, (name, result.best.similarity)


def test_different_members_do_not_match(engine: Engine, portraits) -> None:
    faces = {p.name: engine.represent(p)[0] for p in portraits}
    for (a, fa), (b, fb) in itertools.combinations(faces.items(), 2):
        cmp = engine.compare_faces(fa, [fb])
        assert not cmp.matches[0].match, (a, b, cmp.matches[0].similarity)
        assert cmp.matches[0].similarity < DEFAULT_THRESHOLD


def test_compare_finds_the_person_in_a_group(engine: Engine, portraits) -> None:
    group = group_photo(portraits[1:5], scales=[1.0, 1.2, 0.9, 1.1])
    result = engine.compare(portraits[3], group)  # portraits[3] is third in the group
    assert len(result.matches) == 4
    matches = [m for m in result.matches if m.match]
    assert len(matches) == 1
    assert 390 < matches[0].face.box.center[0] < 700


def test_compare_without_face_in_source(engine: Engine, portraits) -> None:
    blank = np.full((200, 200, 3), 255, dtype=np.uint8)
    result = engine.compare(blank, portraits[0])
    assert result.source_face is None and result.matches == [] and result.best is None


def test_models_are_never_mixed(portraits) -> None:
    a = Engine().represent(portraits[0])[0]
    b = Engine(tta=False).represent(portraits[0])[0]
    with pytest.raises(ModelError):
        Engine().compare_faces(a, [b])
