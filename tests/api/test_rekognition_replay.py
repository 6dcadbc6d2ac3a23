"""Replayed signatures (one ``faceledger serve``, ``rekognition_world``): botocore signs before
adding its invocation headers and X-Amz-Date has one-second resolution, so identical calls in one
second carry one signature. A read answers anyway (decided and audited as its own request, with
``replayed``); a state-changing operation is refused and the client's retry, signed anew, works."""

from __future__ import annotations

import base64
import time

from rekognition_world import World

from testdata import CONGRESS

ORG = "Replay Org"
COLLECTION = "replay"


def _start_of_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def _setup(w: World):  # noqa: ANN202
    if "replay" not in w.creds:
        w.run("admin", "create-org", ORG, "--actor-class", "child-protection")
        w.run("admin", "create-account", ORG, "worker", "--role", "operator")
        w.sigv4("replay", f"{ORG}/worker", "--purpose", "missing-person", "--case-ref", "RP-1",
                "--consent", "guardian-consent")  # fmt: skip
    return w.client("replay")


def test_identical_reads_in_one_second_both_answer(rekognition_world: World) -> None:
    w = rekognition_world
    rek = _setup(w)
    rek.create_collection(CollectionId=COLLECTION)
    image = (CONGRESS / "029940.jpg").read_bytes()
    signatures: list[str] = []
    rek.meta.events.register(
        "before-send.rekognition.*",
        lambda request, **_: signatures.append(request.headers["Authorization"]),
    )
    _start_of_second()
    first = rek.list_collections()
    second = rek.list_collections()
    assert signatures[0] == signatures[1]  # the case this is about: one signature, twice
    assert COLLECTION in first["CollectionIds"] and first["CollectionIds"] == second[
        "CollectionIds"]  # fmt: skip
    _start_of_second()
    signatures.clear()
    detected = [rek.detect_faces(Image={"Bytes": image}) for _ in range(2)]
    if signatures[0] == signatures[1]:  # detection may cross a second boundary on a busy box
        assert len(detected[1]["FaceDetails"]) == len(detected[0]["FaceDetails"]) == 1
    w.check_raw()

    # each is decided and audited as its own request; the second says it was a replay
    (rec1,) = w.audit(f"request_id = '{first['ResponseMetadata']['RequestId']}'")
    (rec2,) = w.audit(f"request_id = '{second['ResponseMetadata']['RequestId']}'")
    assert rec1["outcome"]["status"] == rec2["outcome"]["status"] == "ok"
    assert "replayed" not in rec1["outcome"] and rec2["outcome"]["replayed"] is True


def test_raw_replay_of_a_change_is_refused_and_of_a_read_audited(
    rekognition_world: World,
) -> None:
    w = rekognition_world
    _setup(w)
    headers, body = w.signed("replay", "CreateCollection", {"CollectionId": "replay-raw"})
    assert w.post(headers, body).status_code == 200
    again = w.post(headers, body)
    assert again.status_code == 400
    assert again.json()["__type"] == "InvalidSignatureException"
    assert "Replayed" in again.json()["Message"] and "Retry" in again.json()["Message"]

    image = base64.b64encode((CONGRESS / "021352.jpg").read_bytes()).decode()
    index = {"CollectionId": "replay-raw", "Image": {"Bytes": image}}
    headers, body = w.signed("replay", "IndexFaces", index)
    assert w.post(headers, body).status_code == 200
    refused = w.post(headers, body)
    assert refused.status_code == 400 and "Replayed" in refused.json()["Message"]
    headers, body = w.signed("replay", "ListFaces", {"CollectionId": "replay-raw"})
    listed = [w.post(headers, body) for _ in range(2)]
    assert [r.status_code for r in listed] == [200, 200]
    assert len(listed[1].json()["Faces"]) == 1  # indexed once, not twice

    first, replayed = (r.headers["x-amzn-RequestId"] for r in listed)
    (rec1,) = w.audit(f"request_id = '{first}'")
    (rec2,) = w.audit(f"request_id = '{replayed}'")
    assert rec1["operation"] == rec2["operation"] and rec1["outcome"]["status"] == "ok"
    assert "replayed" not in rec1["outcome"] and rec2["outcome"]["replayed"] is True
