"""The service refuses consent references and external ids that are blank or hold control or
invisible characters, and collection ids that are '.' or '..', whatever the gate allows."""

from __future__ import annotations

import pytest
from service_gates import RecordingGate

from faceledger.governance.context import RequestContext
from faceledger.service.faces import FaceService
from faceledger.store import InvalidRequestError, SQLiteStore

BAD_TEXT = {
    "space": " ",
    "tab": "\t",
    "nul": "\x00",
    "zero-width space": "\u200b",
    "right-to-left override": "\u202e",
    "override inside": "form-1\u202e7-mrof",
    "nul inside": "form\x001",
    "newline inside": "form 1\nconsent: forged",
}


@pytest.fixture()
def gate() -> RecordingGate:
    return RecordingGate()


@pytest.fixture()
def service(tmp_path, engine, gate):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    yield FaceService(store, engine, gate)
    store.close()


def ctx() -> RequestContext:
    return RequestContext("alice", "t1", "research", frozenset({"operator"}))


@pytest.mark.parametrize("value", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_bad_consent_and_external_ids_are_refused(service, gate, portraits, value) -> None:
    c = ctx()
    service.create_collection(c, "people")
    with pytest.raises(InvalidRequestError, match="^consent "):
        service.index_faces(c, "people", portraits[0], consent=value)
    with pytest.raises(InvalidRequestError, match="^external_image_id "):
        service.index_faces(c, "people", portraits[0], consent="form-1", external_image_id=value)
    assert service.list_faces(c, "people").result.items == []
    assert [op for op, _, _ in gate.records] == ["collection.create", "faces.list"]


def test_consent_and_external_id_are_trimmed_and_bounded(service, gate, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    result = service.index_faces(
        c, "people", portraits[0], consent="  form 1 ", external_image_id=" 021352.jpg "
    ).result
    assert result.face_records[0].external_image_id == "021352.jpg"
    assert gate.records[-1][1]["consent"] == "form 1"
    with pytest.raises(InvalidRequestError, match="at most 200"):
        service.index_faces(c, "people", portraits[1], consent="x" * 201)


@pytest.mark.parametrize("bad", [".", "..", ".people"])
def test_dot_collection_ids_are_refused(service, bad) -> None:
    with pytest.raises(InvalidRequestError, match="not starting with '.'"):
        service.create_collection(ctx(), bad)
    assert service.list_collections(ctx()).result.items == []
