"""The SQLite store: collections, faces, pagination, tenants, users, search, reopening."""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from store_helpers import embed_portraits, jittered, sha

import pg_testserver
from faceledger.errors import ModelError
from faceledger.store import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    open_store,
)
from faceledger.store.index import brute_force

pytestmark = pytest.mark.usefixtures("backend")  # SQLite and PostgreSQL

T = "tenant-a"


def another_database() -> str | None:
    """A second, empty database on the backend under test (None: a SQLite file by path)."""
    url = os.environ.get("FACELEDGER_DATABASE_URL")
    return pg_testserver.another_database(url) if url else None


@pytest.fixture(scope="module")
def portrait_faces(engine, portraits):
    return embed_portraits(engine, portraits)


@pytest.fixture()
def store(tmp_path: Path):
    with open_store(tmp_path / "store.sqlite3") as s:
        yield s


def _fill(store, portrait_faces, collection="c1", tenant=T):
    model = portrait_faces[0][2].model_id
    store.create_collection(tenant, collection, model)
    ids = {}
    for ext, digest, face in portrait_faces:
        (record,) = store.add_image_faces(
            tenant, collection, image_sha256=digest, external_image_id=ext, faces=[face]
        )
        ids[ext] = record.face_id
    return ids


def test_collection_lifecycle(store, portrait_faces) -> None:
    model = portrait_faces[0][2].model_id
    info = store.create_collection(T, "people", model)
    assert (info.face_count, info.user_count, info.model_id) == (0, 0, model)
    assert info.created_at.endswith("Z")
    with pytest.raises(ConflictError):
        store.create_collection(T, "people", model)
    with pytest.raises(InvalidRequestError):
        store.create_collection(T, "bad name/with slash", model)
    ext, digest, face = portrait_faces[0]
    store.add_image_faces(T, "people", image_sha256=digest, external_image_id=ext, faces=[face])
    info = store.describe_collection(T, "people")
    assert (info.face_count, info.image_count) == (1, 1)
    for name in ("b", "a", "z"):
        store.create_collection(T, name, model)
    page = store.list_collections(T, limit=2)
    assert [c.collection_id for c in page.items] == ["a", "b"]
    rest = store.list_collections(T, limit=2, next_token=page.next_token)
    assert [c.collection_id for c in rest.items] == ["people", "z"]
    assert rest.next_token is None
    deleted = store.delete_collection(T, "people")
    assert deleted.face_count == 1
    with pytest.raises(NotFoundError):
        store.describe_collection(T, "people")
    # a new collection of the same name starts empty
    assert store.create_collection(T, "people", model).face_count == 0


def test_faces_of_another_model_are_refused(store, portrait_faces) -> None:
    ext, digest, face = portrait_faces[0]
    store.create_collection(T, "c", face.model_id)
    other = replace(face, model_id="some-other-model")
    with pytest.raises(ModelError, match="some-other-model"):
        store.add_image_faces(T, "c", image_sha256=digest, external_image_id=ext, faces=[other])
    with pytest.raises(ModelError):
        store.search(T, "c", face.embedding, k=1, model_id="some-other-model")
    info = store.describe_collection(T, "c")
    assert (info.face_count, info.image_count) == (0, 0), "a refused image leaves nothing"


def test_search_finds_each_portrait_first(store, portrait_faces) -> None:
    ids = _fill(store, portrait_faces)
    for ext, _digest, face in portrait_faces:
        hits = store.search(T, "c1", face.embedding, k=3)
        assert hits[0].face.face_id == ids[ext]
        assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
        assert hits[0].similarity > 99.9
        assert hits[0].face.external_image_id == ext
        # different people: far below the default threshold
        assert all(h.similarity < 90 for h in hits[1:])
    # threshold as a maximal distance
    _ext, _d, face = portrait_faces[0]
    assert len(store.search(T, "c1", face.embedding, k=6, max_distance=0.3)) == 1


def test_pagination_is_stable_while_faces_change(store, portrait_faces) -> None:
    _ext, _d, face = portrait_faces[0]
    store.create_collection(T, "p", face.model_id)
    added = []
    for i in range(30):
        (r,) = store.add_image_faces(
            T, "p", image_sha256=sha(i), external_image_id=f"img{i}", faces=[jittered(face, i)]
        )
        added.append(r.face_id)
    seen, token, pages = [], None, 0
    while True:
        page = store.list_faces(T, "p", limit=7, next_token=token)
        seen.extend(f.face_id for f in page.items)
        pages += 1
        if pages == 2:  # changes between pages: delete one seen and one unseen, add one
            store.delete_faces(T, "p", [added[0], added[20]])
            store.add_image_faces(
                T, "p", image_sha256=sha(99), external_image_id="late",
                faces=[jittered(face, 99)],
            )  # fmt: skip
        if page.next_token is None:
            break
        token = page.next_token
    assert len(seen) == len(set(seen)), "no face listed twice"
    expected = [f for f in added if f != added[20]]
    assert seen[: len(expected)] == expected, "insertion order, nothing skipped"
    assert len(seen) == len(expected) + 1, "a face added meanwhile appears at the end"
    with pytest.raises(InvalidRequestError):
        store.list_faces(T, "p", next_token="garbage!")


def test_tenants_are_isolated(store, portrait_faces) -> None:
    ids_a = _fill(store, portrait_faces[:3], collection="shared-name", tenant="A")
    _fill(store, portrait_faces[3:], collection="shared-name", tenant="B")
    assert store.describe_collection("A", "shared-name").face_count == 3
    assert [c.collection_id for c in store.list_collections("C").items] == []
    with pytest.raises(NotFoundError):
        store.describe_collection("C", "shared-name")
    _ext, _d, face_a = portrait_faces[0]
    hits_b = store.search("B", "shared-name", face_a.embedding, k=10)
    assert not set(ids_a.values()) & {h.face.face_id for h in hits_b}
    assert store.delete_faces("B", "shared-name", list(ids_a.values())) == []
    assert store.get_embeddings("B", "shared-name", list(ids_a.values())) == {}
    assert store.describe_collection("A", "shared-name").face_count == 3
    store.delete_collection("B", "shared-name")
    assert store.describe_collection("A", "shared-name").face_count == 3


def test_page_tokens_are_opaque_bound_and_kept_across_reopen(tmp_path, portrait_faces) -> None:
    path = tmp_path / "store.sqlite3"
    with open_store(path) as store:
        _fill(store, portrait_faces, collection="c1", tenant="A")
        _fill(store, portrait_faces, collection="c1", tenant="B")
        _fill(store, portrait_faces, collection="c2", tenant="A")
        first = store.list_faces("A", "c2", limit=2)
        token = first.next_token
        # the position (a face counter shared by every tenant) does not show through
        seq = str(2 * len(portrait_faces) + 2).encode()
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert b"int:" not in raw and b":" + seq not in raw and b"i" + seq not in raw
        assert store.list_faces("A", "c2", limit=2).next_token != token, "never the same twice"
        for tenant, collection in (("B", "c1"), ("A", "c1")):
            with pytest.raises(InvalidRequestError, match="page token"):
                store.list_faces(tenant, collection, next_token=token)
        with pytest.raises(InvalidRequestError, match="page token"):
            store.list_users("A", "c2", next_token=token)
        with pytest.raises(InvalidRequestError, match="page token"):
            store.list_collections("A", next_token=token)
        tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        with pytest.raises(InvalidRequestError, match="page token"):
            store.list_faces("A", "c2", next_token=tampered)
        forged = base64.urlsafe_b64encode(b"int:" + b"9" * 40).decode()
        with pytest.raises(InvalidRequestError, match="page token"):
            store.list_faces("A", "c2", next_token=forged)
    with open_store(path) as store:
        rest = store.list_faces("A", "c2", limit=100, next_token=token)
        assert len(first.items) + len(rest.items) == len(portrait_faces)
    with open_store(tmp_path / "other.sqlite3", url=another_database()) as other:
        _fill(other, portrait_faces, collection="c2", tenant="A")
        with pytest.raises(InvalidRequestError, match="page token"):
            other.list_faces("A", "c2", next_token=token)


def test_users(store, portrait_faces) -> None:
    ids = _fill(store, portrait_faces)
    face_ids = list(ids.values())
    store.create_user(T, "c1", "alice")
    store.create_user(T, "c1", "bob")
    with pytest.raises(ConflictError):
        store.create_user(T, "c1", "alice")
    r = store.associate_faces(T, "c1", "alice", face_ids[:2] + ["no-such-face"])
    assert r.succeeded == face_ids[:2]
    assert r.unsuccessful == [("no-such-face", "FACE_NOT_FOUND")]
    r = store.associate_faces(T, "c1", "bob", face_ids[1:3])
    assert r.succeeded == [face_ids[2]]
    assert r.unsuccessful == [(face_ids[1], "ASSOCIATED_TO_A_DIFFERENT_USER")]
    with pytest.raises(InvalidRequestError):
        store.associate_faces(T, "c1", "bob", [f"f{i}" for i in range(101)])
    with pytest.raises(NotFoundError):
        store.associate_faces(T, "c1", "carol", face_ids[:1])
    users = store.list_users(T, "c1")
    assert [(u.user_id, u.face_count) for u in users.items] == [("alice", 2), ("bob", 1)]
    listed = store.list_faces(T, "c1", user_id="alice").items
    assert [f.face_id for f in listed] == face_ids[:2]
    assert all(f.user_id == "alice" for f in listed)
    emb = store.user_embeddings(T, "c1")
    assert emb["alice"][0] == face_ids[:2] and emb["alice"][1].shape == (2, 128)
    r = store.disassociate_faces(T, "c1", "alice", [face_ids[0], face_ids[2]])
    assert r.succeeded == [face_ids[0]]
    assert r.unsuccessful == [(face_ids[2], "FACE_NOT_ASSOCIATED_TO_USER")]
    assert store.delete_user(T, "c1", "bob").face_count == 1
    assert store.describe_collection(T, "c1").face_count == len(ids), "faces stay"
    assert [u.user_id for u in store.list_users(T, "c1").items] == ["alice"]
    assert store.describe_collection(T, "c1").user_count == 1


def test_search_follows_changes_of_another_process_and_survives_reopen(
    tmp_path: Path, portrait_faces
) -> None:
    path = tmp_path / "s.sqlite3"
    writer, reader = open_store(path), open_store(path)
    _ext, _d, face = portrait_faces[0]
    writer.create_collection(T, "c", face.model_id)
    assert reader.search(T, "c", face.embedding, k=5) == []  # index built while empty
    vectors, face_ids = [], []
    for i in range(1500):  # crosses the PCA fit threshold while the reader follows
        f = jittered(face, i, 0.2)
        (r,) = writer.add_image_faces(
            T, "c", image_sha256=sha(i), external_image_id=None, faces=[f]
        )
        vectors.append(f.embedding)
        face_ids.append(r.face_id)
        if i % 500 == 0:
            reader.search(T, "c", face.embedding, k=5)
    writer.delete_faces(T, "c", face_ids[::3])
    keep = np.ones(len(face_ids), bool)
    keep[::3] = False
    ids = np.arange(len(face_ids))
    V = np.array(vectors)
    for q in (face.embedding, vectors[5], vectors[1000]):
        expected = [(face_ids[i], d) for i, d in brute_force(q, ids[keep], V[keep], 10)]
        got = [(h.face.face_id, h.distance) for h in reader.search(T, "c", q, k=10)]
        assert got == expected
    assert reader.check_consistency(T, "c") == []
    writer.close()
    reader.close()
    with open_store(path) as again:
        assert again.describe_collection(T, "c").face_count == 1000
        got = [(h.face.face_id, h.distance) for h in again.search(T, "c", vectors[1000], k=10)]
        assert got == expected


def test_similarity_uses_the_collections_model_calibration(store, portrait_faces) -> None:
    from faceledger.engine.similarity import similarity_from_distance

    ext, digest, face = portrait_faces[0]
    other = replace(face, model_id="dlib-resnet-v1")
    store.create_collection(T, "raw", "dlib-resnet-v1")
    store.add_image_faces(T, "raw", image_sha256=digest, external_image_id=ext, faces=[other])
    query = face.embedding + np.float32(0.02)
    (hit,) = store.search(T, "raw", query, k=1)
    assert hit.model_id == "dlib-resnet-v1"
    assert hit.similarity == similarity_from_distance(hit.distance, "dlib-resnet-v1")
    assert hit.similarity != similarity_from_distance(hit.distance, face.model_id)


def test_approximate_search_is_opt_in_and_follows_changes(
    tmp_path: Path, portrait_faces, backend
) -> None:
    """exact=False builds a second (IVF) index that follows adds and deletions like the exact
    one; probing every list it must equal brute force, so the bookkeeping is right."""
    if backend:
        pytest.skip("PostgreSQL's approximate search is pgvector's HNSW: the test below")
    path = tmp_path / "a.sqlite3"
    writer = open_store(path)
    reader = open_store(path, approximate_options={"nprobe": 10_000})
    _ext, _d, face = portrait_faces[0]
    writer.create_collection(T, "c", face.model_id)
    vectors, face_ids = [], []
    for i in range(600):
        f = jittered(face, i, 0.2)
        (r,) = writer.add_image_faces(
            T, "c", image_sha256=sha(i), external_image_id=None, faces=[f]
        )
        vectors.append(f.embedding)
        face_ids.append(r.face_id)
        if i % 200 == 0:
            reader.search(T, "c", face.embedding, k=5, exact=False)
    assert reader._approximate and len(reader._indexes) == 0  # the exact one was never built
    writer.delete_faces(T, "c", face_ids[::3])
    keep = np.ones(len(face_ids), bool)
    keep[::3] = False
    ids, V = np.arange(len(face_ids)), np.array(vectors)
    for q in (face.embedding, vectors[5], vectors[500]):
        expected = [(face_ids[i], d) for i, d in brute_force(q, ids[keep], V[keep], 10)]
        got = [(h.face.face_id, h.distance) for h in reader.search(T, "c", q, k=10, exact=False)]
        assert got == expected
        assert [(h.face.face_id, h.distance) for h in reader.search(T, "c", q, k=10)] == expected
    writer.close()
    reader.close()


def test_request_tokens_commit_with_the_change_and_go_with_the_collection(store) -> None:
    from faceledger.store.idempotency import RememberedRequest

    store.create_collection(T, "c1", "dlib-resnet-v1")
    assert store.remembered_request(T, "tok") is None
    made = RememberedRequest("users.create", "f" * 64, '{"user_id": "u"}', "2099-01-01T00:00:00Z")
    with pytest.raises(RuntimeError), store.transaction():  # rolled back with the change
        store.create_user(T, "c1", "u")
        store.remember_request(T, "tok", "c1", made)
        raise RuntimeError("crash before commit")
    assert store.remembered_request(T, "tok") is None
    with store.transaction():
        store.create_user(T, "c1", "u")
        store.remember_request(T, "tok", "c1", made)
    assert store.remembered_request(T, "tok") == made
    assert store.remembered_request("tenant-b", "tok") is None  # the tenant's own
    store.delete_collection(T, "c1")
    assert store.remembered_request(T, "tok") is None


def test_postgres_approximate_search_is_hnsw_per_collection_and_follows_changes(
    tmp_path: Path, portrait_faces, backend
) -> None:
    """On PostgreSQL exact=False orders by pgvector's HNSW, through a partial index on the
    collection alone (the filter never starves the scan: another tenant's faces are many and
    nearer); it sees adds and deletions at once, and its distances are the exact ones."""
    if not backend:
        pytest.skip("pgvector is PostgreSQL's")
    import pg_testserver

    store = open_store(tmp_path / "s.sqlite3")
    _ext, _d, face = portrait_faces[0]
    store.create_collection(T, "c", face.model_id)
    store.create_collection("tenant-b", "c", face.model_id)
    vectors, face_ids = [], []
    for i in range(150):
        f = jittered(face, i, 0.2)
        (r,) = store.add_image_faces(T, "c", image_sha256=sha(i), external_image_id=None, faces=[f])
        vectors.append(f.embedding)
        face_ids.append(r.face_id)
        near = jittered(face, 10_000 + i, 0.01)  # nearer to the query, other tenant
        store.add_image_faces(
            "tenant-b", "c", image_sha256=sha(i), external_image_id=None, faces=[near]
        )
    hits = store.search(T, "c", face.embedding, k=10, exact=False)
    assert len(hits) == 10 and all(h.face.face_id in face_ids for h in hits)
    plan = pg_testserver.execute(
        backend,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'faces'"
        " AND indexname LIKE 'faces_hnsw_%'",
    )
    assert len(plan) == 1, "one partial HNSW index: the searched collection's"
    store.delete_faces(T, "c", face_ids[::3])
    keep = np.ones(len(face_ids), bool)
    keep[::3] = False
    ids, V = np.arange(len(face_ids)), np.array(vectors)
    recall = []
    for q in (face.embedding, vectors[5], vectors[100]):
        expected = dict((face_ids[i], d) for i, d in brute_force(q, ids[keep], V[keep], 10))
        got = store.search(T, "c", q, k=10, exact=False)
        assert all(h.face.face_id in {face_ids[i] for i in ids[keep]} for h in got)  # no deleted
        for h in got:
            if h.face.face_id in expected:
                assert abs(h.distance - expected[h.face.face_id]) < 1e-4
        recall.append(len({h.face.face_id for h in got} & set(expected)) / 10)
    assert np.mean(recall) >= 0.9, recall
    (new,) = store.add_image_faces(
        T, "c", image_sha256=sha(999), external_image_id=None, faces=[face]
    )
    assert store.search(T, "c", face.embedding, k=1, exact=False)[0].face.face_id == new.face_id
    store.close()
