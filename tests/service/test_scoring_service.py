"""A collection of a normalised scoring: compare and search give its scores, and other
scorings (or the raw model) never compare with it."""

from __future__ import annotations

import numpy as np
import pytest
from service_gates import RecordingGate

from faceledger import Engine
from faceledger.engine.scoring import Scoring
from faceledger.engine.similarity import DEFAULT_MODEL_ID, similarity_from_distance
from faceledger.errors import ModelError
from faceledger.governance.context import RequestContext
from faceledger.service.faces import FaceService
from faceledger.store import SQLiteStore

CTX = RequestContext("alice", "t1", "research", frozenset({"operator"}))


def scoring_of(embeddings: np.ndarray, terms: list[float]) -> Scoring:
    """A scoring whose clusters are centred on the first faces (hand-set terms: the fit itself
    is tested in tests/engine/test_scoring.py)."""
    k = len(terms)
    return Scoring(DEFAULT_MODEL_ID, embeddings[:k].astype(np.float64), np.array(terms), 0.37, 0.33)


@pytest.fixture(scope="module")
def embedded(engine, portraits) -> np.ndarray:
    return np.stack([engine.represent(p)[0].embedding for p in portraits[3:6]])


@pytest.fixture(scope="module")
def scoring(embedded) -> Scoring:
    return scoring_of(embedded, [0.05, -0.03, 0.02])


@pytest.fixture(scope="module")
def norm_engine(engine, scoring) -> Engine:
    return engine.with_scoring(scoring)


@pytest.fixture(scope="module")
def world(tmp_path_factory, engine, norm_engine, portraits):
    store = SQLiteStore(tmp_path_factory.mktemp("scoring") / "s.sqlite3")
    gate = RecordingGate()
    raw, norm = FaceService(store, engine, gate), FaceService(store, norm_engine, gate)
    for service, name in ((raw, "raw"), (norm, "norm")):
        service.create_collection(CTX, name)
        for p in portraits[:4]:
            service.index_faces(CTX, name, p, external_image_id=p.name)
    yield raw, norm, store
    store.close()


def test_search_and_compare_give_the_normalised_similarity(world, scoring, portraits) -> None:
    raw, norm, store = world
    sid = scoring.scoring_id
    assert norm.describe_collection(CTX, "norm").result.model_id == sid
    result = norm.search_faces_by_image(CTX, "norm", portraits[1], threshold=0).result
    probe = result.searches[0].searched_face.embedding
    ids = [m.face.face_id for m in result.matches]
    stored = store.get_embeddings("t1", "norm", ids)
    expected = scoring.distances(probe, np.stack([stored[i] for i in ids]))
    got = [m.similarity for m in result.matches]
    np.testing.assert_allclose(got, similarity_from_distance(expected, sid), rtol=1e-9)
    assert got == sorted(got, reverse=True), "ranked by the normalised score"
    raw_result = raw.search_faces_by_image(CTX, "raw", portraits[1], threshold=0).result
    raw_sims = {m.face.external_image_id: m.similarity for m in raw_result.matches}
    norm_sims = {m.face.external_image_id: m.similarity for m in result.matches}
    assert raw_sims.keys() == norm_sims.keys() and raw_sims != norm_sims

    by_face = norm.search_faces(CTX, "norm", ids[0], threshold=0).result
    stored_probe = stored[ids[0]]
    for m in by_face.matches:
        (other,) = store.get_embeddings("t1", "norm", [m.face.face_id]).values()
        d = scoring.distances(stored_probe, other[None])[0]
        assert m.similarity == pytest.approx(float(similarity_from_distance(d, sid)), rel=1e-9)

    compared = norm.compare(CTX, portraits[1], portraits[2], threshold=0).result
    a, b = (norm.engine.represent(p)[0].embedding for p in portraits[1:3])
    d = scoring.distances(a, b[None])[0]
    assert compared.model_id == sid
    assert compared.matches[0].similarity == pytest.approx(similarity_from_distance(d, sid))
    raw_compared = raw.compare(CTX, portraits[1], portraits[2], threshold=0).result
    assert raw_compared.matches[0].similarity != compared.matches[0].similarity


def test_scorings_never_compare_across(world, embedded, portraits) -> None:
    raw, norm, _ = world
    with pytest.raises(ModelError):  # raw probe, normalised collection
        raw.search_faces_by_image(CTX, "norm", portraits[0])
    with pytest.raises(ModelError):  # normalised probe, raw collection
        norm.search_faces_by_image(CTX, "raw", portraits[0])
    with pytest.raises(ModelError):  # raw faces enrolled into a normalised collection
        raw.index_faces(CTX, "norm", portraits[0], external_image_id="again")
    refit = norm.engine.with_scoring(scoring_of(embedded, [0.05, -0.03, 0.021]))
    assert refit.model_id != norm.engine.model_id, "other parameters, another id"
    other = FaceService(norm.store, refit, RecordingGate())
    with pytest.raises(ModelError):
        other.search_faces_by_image(CTX, "norm", portraits[0])


def test_a_scoring_of_another_model_is_refused(engine, embedded) -> None:
    alien = Scoring("user:other+tta6", embedded[:2].astype(np.float64), np.zeros(2), 0.5, 0.4)
    with pytest.raises(ModelError, match="normalises user:other"):
        _ = engine.with_scoring(alien).model_id
