"""The benchmarks measure what their tables claim, or stop: no silent stand-in data.

benchmarks/search.py once re-derived the embedding cache's key by hand and looked for LFW at one
machine's path; after the key changed it reported "not cached" and measured synthetic vectors
under the LFW heading. It now reads the cache through the cache's own lookup and exits, naming
the command that fills it, when the entry is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from faceledger.datasets.embed_cache import cache_file, embed_images
from faceledger.datasets.lfw import IMAGE_DIR, identities

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def search():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("bench_search", BENCHMARKS / "search.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture
def fake_lfw(tmp_path: Path, portraits: list[Path]) -> Path:
    """An LFW-shaped folder made of the Congress fixtures (no LFW image is ever copied)."""
    data = tmp_path / "data"
    for person, picks in {"Person_A": portraits[:2], "Person_B": portraits[2:3]}.items():
        folder = data / "lfw" / IMAGE_DIR / person
        folder.mkdir(parents=True)
        for i, src in enumerate(picks, 1):
            shutil.copy(src, folder / f"{person}_{i:04d}.jpg")
    return data


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACELEDGER_CACHE_DIR", str(cache))
    return cache


def test_missing_cache_stops_with_the_command_that_fills_it(search, fake_lfw, empty_cache) -> None:
    with pytest.raises(SystemExit) as stop:
        search.lfw_table(str(fake_lfw))
    message = str(stop.value.code)
    assert "not cached" in message and "benchmarks/lfw_verification.py" in message
    assert str(empty_cache) in message and "--embed" in message
    assert not (empty_cache / "embeddings").exists(), "nothing computed behind the user's back"


def test_missing_lfw_stops(search, tmp_path: Path, empty_cache) -> None:
    with pytest.raises(SystemExit) as stop:
        search.lfw_table(str(tmp_path / "nowhere"))
    assert "lfw" in str(stop.value.code) and "not found" in str(stop.value.code)


def test_finds_the_entry_the_cache_itself_wrote(search, fake_lfw, empty_cache) -> None:
    lfw = fake_lfw / "lfw"
    paths = [p for v in identities(lfw).values() for p in v]
    table = embed_images(lfw / IMAGE_DIR, paths, name="lfw", workers=1, progress=False)
    assert cache_file(lfw / IMAGE_DIR, paths, name="lfw").exists()
    emb, names = search.lfw_table(str(fake_lfw))
    assert list(names) == ["Person_A", "Person_A", "Person_B"]
    expected = table.embeddings(tta=True)[table.select("center")]
    np.testing.assert_array_equal(emb, expected.astype(np.float32))


def test_synthetic_only_when_asked_and_labelled(
    search, fake_lfw, empty_cache, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = ["--sizes", "3000", "--approximate-min", "3000", "--queries", "10", "--check", "3",
             "--nprobe", "4", "--no-open", "--data", str(fake_lfw)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["search.py", *small])
    with pytest.raises(SystemExit) as stop:  # LFW asked for (the default) but not cached
        search.main()
    assert "lfw_verification.py" in str(stop.value.code)

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    people = np.array([f"p{i // 2}" for i in range(400)])
    monkeypatch.setattr(search, "lfw_table", lambda *a, **k: (vectors, people))
    monkeypatch.setattr(search, "identification", lambda *a, **k: None)
    monkeypatch.setattr(sys, "argv", ["search.py", *small, "--spectra", "lfw,synthetic"])
    search.main()
    out = capsys.readouterr().out
    ivf = out[out.index("approximate search") :].splitlines()
    rows = [line for line in ivf if line.startswith("| ") and "3,000" in line]
    assert [r.split(" | ")[0] for r in rows] == ["| LFW spectrum", "| synthetic (not LFW)"]
