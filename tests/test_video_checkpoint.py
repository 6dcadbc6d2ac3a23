"""Checkpoints of the video pipeline: resumed from any checkpoint it offered (through its JSON
form, as the job row keeps it), a search gives the same tracks, matches and counts as an
uninterrupted run; the decoder's read-ahead thread ends when the caller stops early."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from faceledger.store import SQLiteStore  # noqa: E402
from faceledger.video.intake import sample_frames  # noqa: E402
from faceledger.video.readahead import read_ahead  # noqa: E402
from faceledger.video.search import Checkpoint, search_video  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip  # noqa: E402


def test_a_search_resumed_from_any_checkpoint_equals_the_uninterrupted_one(
    engine, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.create_collection("t", "people", engine.model_id)
    for p in PORTRAITS[2:4]:
        faces = engine.represent(str(p))[:1]
        store.add_image_faces("t", "people", image_sha256=p.stem.ljust(64, "0"),
                              external_image_id=p.name, faces=faces)  # fmt: skip
    footage = clip(tmp_path / "hall.mp4", [Appearance(PORTRAITS[2], 0.5, 1.5, speed=0),
                                           Appearance(PORTRAITS[3], 3.6, 5.0, speed=20),
                                           Appearance(PORTRAITS[4], 4.0, 5.0, x0=260)],
                   seconds=6, size=(480, 300))  # fmt: skip

    def search(vector: np.ndarray) -> list:
        return store.search("t", "people", vector, k=2, max_distance=0.6,
                            model_id=engine.model_id)  # fmt: skip

    saved: list[dict] = []

    def keep(checkpoint: Checkpoint) -> None:  # as the job row keeps it: JSON
        saved.append(json.loads(json.dumps(checkpoint.to_state())))

    whole = search_video(engine, footage, search, min_face_size=80, on_checkpoint=keep)
    assert len(whole.tracks) == 3 and saved, "a quiet sample between the people"
    assert saved[0]["timestamp_ms"] >= 1500 and len(saved[0]["tracks"]) == 1
    faces = {f.face_id: f for f in store.list_faces("t", "people").items}
    for state in saved:
        resumed = search_video(engine, footage, search, min_face_size=80,
                               resume=Checkpoint.from_state(state, faces))  # fmt: skip
        assert resumed.to_dict() == whole.to_dict()
        assert resumed.searched_share == whole.searched_share
    # a face erased since the checkpoint is not brought back by it
    erased = Checkpoint.from_state(saved[0], {})
    assert erased.tracks[0].matches == [] and whole.tracks[0].matches
    store.close()


def test_read_ahead_stops_its_thread_when_the_caller_stops(tmp_path: Path) -> None:
    footage = clip(tmp_path / "long.mp4", [], seconds=4, size=(320, 240))
    before = threading.active_count()
    frames = read_ahead(sample_frames(footage))
    first = next(frames)
    assert first.index == 0
    frames.close()
    assert threading.active_count() == before
    assert [s.index for s in read_ahead(sample_frames(footage))] == list(range(8))


def test_the_hog_helper_process_gives_the_callers_answer(portraits) -> None:
    from faceledger.engine.detection import FaceDetector
    from faceledger.images import load_image
    from faceledger.video.parallel import HogHelper

    pixels = load_image(portraits[0]).pixels
    helper = HogHelper()
    try:
        answers = [helper.submit(pixels), helper.submit(pixels[::2, ::2].copy())]
        local = FaceDetector("hog")
        assert answers[1].result() == local._run("hog", pixels[::2, ::2].copy())
        assert answers[0].result() == local._run("hog", pixels) != []
    finally:
        helper.close()
    assert helper.submit(pixels).result() is None, "stopped: the caller searches itself"
