"""Manifest CSV and labelled-folder parsing, on temporary files."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceledger.errors import FaceledgerError
from faceledger.fairness.datasets import load, load_labelled_folder, load_manifest


def test_manifest_with_any_group_columns(tmp_path: Path):
    csv_file = tmp_path / "audit.csv"
    csv_file.write_text(
        "path,subject,gender,skin_type,age_band\n"
        "a/1.jpg,alice,female,V,30-39\n"
        "a/2.jpg,alice,F,V,30-39\n"
        "b/1.jpg,bob,M,II,\n"
        "c/1.jpg,,Male,II,60+\n"
    )
    s = load_manifest(csv_file)
    assert s.name == "audit" and len(s) == 4
    assert s.root == tmp_path.resolve()
    assert s.groups["gender"] == ["Female", "Female", "Male", "Male"]
    assert s.groups["skin_type"] == ["V", "V", "II", "II"]
    assert s.subjects[:3] == ["alice", "alice", "bob"]
    assert s.subjects[3] == "image:c/1.jpg"  # no subject: its own
    assert s.has_identities
    assert s.group_labels(["skin_type", "age_band"]) == ["V 30-39", "V 30-39", "", "II 60+"]
    assert load(str(csv_file)).paths == s.paths


def test_manifest_named_like_a_builtin_dataset_is_renamed(tmp_path: Path):
    f = tmp_path / "lfw.csv"
    f.write_text("path,subject,gender\nx.jpg,a,M\n")
    assert load_manifest(f).name == "lfw-manifest"


def test_manifest_requires_path_and_subject(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,gender\nx.jpg,M\n")
    with pytest.raises(FaceledgerError, match="path and subject"):
        load_manifest(bad)


def test_labelled_folder_is_impostor_only(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.csv").write_text(
        "file,age,gender_code,gender,race_code,race\n"
        "1.jpg,30,0,Male,4,Others\n"
        "2.jpg,40,1,Female,1,Black\n"
    )
    s = load_labelled_folder(tmp_path, "utk")
    assert s.root == tmp_path / "images"
    assert set(s.groups) == {"gender", "race"}
    assert s.groups["race"] == ["Other", "Black"]
    assert not s.has_identities and len(set(s.subjects)) == 2


def test_unknown_dataset_name(tmp_path: Path):
    with pytest.raises(FaceledgerError, match="unknown dataset"):
        load("imagenet", tmp_path)
    with pytest.raises(FaceledgerError, match="not found"):
        load("lfw", tmp_path / "nowhere")
