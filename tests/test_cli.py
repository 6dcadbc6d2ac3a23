"""The CLI as a user runs it: a real subprocess, JSON that parses, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testdata import CONGRESS

A = CONGRESS / "029701.jpg"
B = CONGRESS / "021506.jpg"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=300
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("faceledger ")


def test_detect_json_is_stable(tmp_path) -> None:
    out = run("detect", str(A), str(B), "--json", "--workers", "1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [i["image"] for i in data["images"]] == [str(A), str(B)]
    face = data["images"][0]["faces"][0]
    assert set(face) == {"box", "score", "detector", "landmarks", "pose", "quality"}
    assert set(face["box"]) == {"left", "top", "width", "height"}
    assert len(face["landmarks"]) == 5


def test_detect_human_output_and_folder(tmp_path) -> None:
    out = run("detect", str(CONGRESS), "--workers", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("1 face") == len(list(CONGRESS.glob("*.jpg")))


def test_represent_json() -> None:
    out = run("represent", str(A), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model_id"] == "dlib-resnet-v1+tta6"
    assert len(data["images"][0]["faces"][0]["embedding"]) == 128


def test_compare_same_and_different() -> None:
    same = json.loads(run("compare", str(A), str(A), "--json").stdout)
    assert same["matches"][0]["match"] is True and same["matches"][0]["similarity"] > 99
    diff = run("compare", str(A), str(B), "--json", "--threshold", "80")
    data = json.loads(diff.stdout)
    assert data["threshold"] == 80 and data["matches"][0]["match"] is False
    human = run("compare", str(A), str(B))
    assert human.returncode == 0 and "similarity" in human.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty input"), (b"not an image at all", "not a supported image")],
)
def test_bad_input_is_one_line_no_traceback(tmp_path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    for args in (["detect", str(bad)], ["compare", str(bad), str(A)]):
        out = run(*args)
        assert out.returncode == 1
        assert message in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_missing_file_and_bad_threshold(tmp_path) -> None:
    out = run("compare", str(tmp_path / "nope.jpg"), str(A))
    assert out.returncode == 1 and "no such file" in out.stderr and "Traceback" not in out.stderr
    usage = run("compare", str(A), str(B), "--threshold", "150")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_detect_continues_past_a_bad_file(tmp_path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = run("detect", str(A), str(bad), "--json", "--workers", "1")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert len(data["images"][0]["faces"]) == 1
    assert data["images"][1]["error"]["code"] in {"corrupt_image", "not_an_image"}
