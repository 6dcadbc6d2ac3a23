"""The Rekognition-compatible API with real clients: boto3 (and raw SigV4-signed httpx requests)
against a real ``faceledger serve`` on a random local port (``rekognition_world``).

Every successful response is validated against botocore's output shape for its operation; every
error must parse into the right ``client.exceptions.X`` (or error code, for the few errors the
model does not declare).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import httpx
import pytest
from botocore.exceptions import ClientError
from rekognition_shapes import validate_output
from rekognition_world import REGION, TODAY, World

from testdata import CONGRESS, encode, group_photo


@pytest.fixture(scope="module")
def world(rekognition_world: World) -> World:
    return rekognition_world


def _image(name: str) -> bytes:
    return (CONGRESS / f"{name}.jpg").read_bytes()


def _check_raw(world: World) -> None:
    """Every 200 answer seen so far matches its operation's output shape."""
    world.check_raw()


def _box_ok(box: dict) -> None:
    assert set(box) == {"Width", "Height", "Left", "Top"}
    assert 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
    assert 0 <= box["Left"] < 1 and 0 <= box["Top"] < 1


def test_the_walkthrough_with_boto3(world: World) -> None:
    rek = world.client("caseworker")
    created = rek.create_collection(CollectionId="missing")
    assert created["StatusCode"] == 200 and created["FaceModelVersion"].startswith("dlib-resnet")
    assert created["ResponseMetadata"]["RequestId"]
    with pytest.raises(rek.exceptions.ResourceAlreadyExistsException):
        rek.create_collection(CollectionId="missing")
    ids = {}
    for name in ("029940", "021352", "041308"):
        r = rek.index_faces(
            CollectionId="missing", Image={"Bytes": _image(name)}, ExternalImageId=name,
            MaxFaces=1, QualityFilter="AUTO", DetectionAttributes=["DEFAULT"],
        )  # fmt: skip
        (record,) = r["FaceRecords"]
        assert record["Face"]["ExternalImageId"] == name and not r["UnindexedFaces"]
        _box_ok(record["Face"]["BoundingBox"])
        assert 50 < record["Face"]["Confidence"] <= 100
        ids[name] = record["Face"]["FaceId"]
    group = encode(group_photo([CONGRESS / "021506.jpg", CONGRESS / "029701.jpg"],
                               scales=[1.0, 0.8], size=(900, 500)))  # fmt: skip
    r = rek.index_faces(CollectionId="missing", Image={"Bytes": group}, ExternalImageId="group",
                        MaxFaces=1)  # fmt: skip
    assert len(r["FaceRecords"]) == 1
    (skipped,) = r["UnindexedFaces"]
    assert skipped["Reasons"] == ["EXCEEDS_MAX_FACES"]
    assert {lm["Type"] for lm in skipped["FaceDetail"]["Landmarks"]} >= {"eyeLeft", "nose"}
    described = rek.describe_collection(CollectionId="missing")
    assert described["FaceCount"] == 4 and described["UserCount"] == 0
    assert described["CreationTimestamp"].tzinfo is not None
    assert rek.list_collections()["CollectionIds"] == ["missing"]

    # pagination: by hand and with botocore's paginator
    first = rek.list_faces(CollectionId="missing", MaxResults=3)
    assert len(first["Faces"]) == 3 and first["NextToken"]
    rest = rek.list_faces(CollectionId="missing", MaxResults=3, NextToken=first["NextToken"])
    assert len(rest["Faces"]) == 1 and "NextToken" not in rest
    pages = rek.get_paginator("list_faces").paginate(
        CollectionId="missing", PaginationConfig={"PageSize": 2}
    )
    assert sum(len(p["Faces"]) for p in pages) == 4
    with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
        rek.list_faces(CollectionId="missing", NextToken="not-a-token")

    # search by image and by face id
    found = rek.search_faces_by_image(
        CollectionId="missing", Image={"Bytes": _image("021352")}, FaceMatchThreshold=95
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "021352"
    assert found["FaceMatches"][0]["Similarity"] > 99
    _box_ok(found["SearchedFaceBoundingBox"])
    by_id = rek.search_faces(CollectionId="missing", FaceId=ids["021352"], FaceMatchThreshold=0,
                             MaxFaces=2)  # fmt: skip
    assert by_id["SearchedFaceId"] == ids["021352"] and len(by_id["FaceMatches"]) == 2
    assert ids["021352"] not in {m["Face"]["FaceId"] for m in by_id["FaceMatches"]}

    # users
    assert rek.create_user(CollectionId="missing", UserId="person-1") is not None
    assoc = rek.associate_faces(CollectionId="missing", UserId="person-1",
                                FaceIds=[ids["021352"], str(uuid.uuid4())])  # fmt: skip
    assert assoc["AssociatedFaces"] == [{"FaceId": ids["021352"]}]
    assert assoc["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    assert rek.list_users(CollectionId="missing")["Users"] == [
        {"UserId": "person-1", "UserStatus": "ACTIVE"}
    ]
    users = rek.search_users_by_image(CollectionId="missing", Image={"Bytes": _image("021352")})
    assert users["UserMatches"][0]["User"]["UserId"] == "person-1"
    _box_ok(users["SearchedFace"]["FaceDetail"]["BoundingBox"])
    by_face = rek.search_users(CollectionId="missing", FaceId=ids["029940"], UserMatchThreshold=0)
    assert by_face["SearchedFace"] == {"FaceId": ids["029940"]}
    listed = rek.list_faces(CollectionId="missing", UserId="person-1")["Faces"]
    assert [f["FaceId"] for f in listed] == [ids["021352"]]
    assert listed[0]["UserId"] == "person-1"
    dis = rek.disassociate_faces(CollectionId="missing", UserId="person-1",
                                 FaceIds=[ids["021352"]])  # fmt: skip
    assert dis["DisassociatedFaces"] == [{"FaceId": ids["021352"]}]
    rek.delete_user(CollectionId="missing", UserId="person-1")
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.delete_user(CollectionId="missing", UserId="person-1")

    # compare and detect
    compared = rek.compare_faces(
        SourceImage={"Bytes": _image("021506")}, TargetImage={"Bytes": group}
    )
    assert len(compared["FaceMatches"]) == 1 and len(compared["UnmatchedFaces"]) == 1
    assert compared["FaceMatches"][0]["Similarity"] > 90
    _box_ok(compared["SourceImageFace"]["BoundingBox"])
    detected = rek.detect_faces(Image={"Bytes": group}, Attributes=["DEFAULT"])["FaceDetails"]
    assert len(detected) == 2
    for face in detected:
        _box_ok(face["BoundingBox"])
        assert all(0 <= lm["X"] <= 1 and 0 <= lm["Y"] <= 1 for lm in face["Landmarks"])
        eye_left, eye_right = (next(lm for lm in face["Landmarks"] if lm["Type"] == t)
                               for t in ("eyeLeft", "eyeRight"))  # fmt: skip
        assert eye_left["X"] < eye_right["X"]  # viewer's left, as Rekognition names them

    # errors, each into its modeled exception
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.describe_collection(CollectionId="nope")
    with pytest.raises(rek.exceptions.InvalidParameterException, match="S3"):
        rek.detect_faces(Image={"S3Object": {"Bucket": "bucket", "Name": "a.jpg"}})
    with pytest.raises(rek.exceptions.InvalidImageFormatException):
        rek.detect_faces(Image={"Bytes": b"not an image at all"})
    with pytest.raises(rek.exceptions.ImageTooLargeException):
        rek.detect_faces(Image={"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)})
    with pytest.raises(rek.exceptions.InvalidParameterException, match="no faces"):
        rek.search_faces_by_image(CollectionId="missing",
                                  Image={"Bytes": encode(group_photo([], scales=[]))})  # fmt: skip
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.search_faces(CollectionId="missing", FaceId="not-a-uuid")

    # delete
    gone = str(uuid.uuid4())
    deleted = rek.delete_faces(CollectionId="missing", FaceIds=[ids["041308"], gone])
    assert deleted["DeletedFaces"] == [ids["041308"]]
    assert deleted["UnsuccessfulFaceDeletions"] == [{"FaceId": gone, "Reasons": ["FACE_NOT_FOUND"]}]
    assert rek.delete_collection(CollectionId="missing")["StatusCode"] == 200
    _check_raw(world)

    # the calls are in the audit log like any other, with what the credential binds
    searched = world.audit("operation = 'faces.search_by_image'")
    assert searched and all(r["purpose"] == "missing-person" for r in searched)
    indexed = world.audit("operation = 'faces.index'")
    assert indexed[0]["request"]["consent"] == "family-consent"


@pytest.mark.sqlite_only("reads the governance SQLite file")
def test_signatures(world: World, monkeypatch) -> None:
    headers, body = world.signed("caseworker", "ListCollections", {})
    ok = world.post(headers, body)
    assert ok.status_code == 200 and ok.headers["x-amzn-RequestId"]
    validate_output("ListCollections", ok.json())

    def refused(response: httpx.Response, type_: str, match: str = "") -> None:
        assert response.status_code == 400, response.text
        assert response.json()["__type"] == type_ and match in response.json()["Message"]

    assert world.post(headers, body).status_code == 200  # a replayed read answers (audited)
    headers, body = world.signed("caseworker", "CreateCollection", {"CollectionId": "signed-once"})
    assert world.post(headers, body).status_code == 200
    refused(world.post(headers, body), "InvalidSignatureException", "Replayed")
    headers, body = world.signed("caseworker", "ListCollections", {}, secret="y" * 40)
    refused(world.post(headers, body), "InvalidSignatureException", "does not match")
    headers, body = world.signed("caseworker", "ListCollections", {"MaxResults": 1})
    refused(world.post(headers, body.replace(b"1", b"2")), "InvalidSignatureException")
    headers, body = world.signed("caseworker", "ListCollections", {})
    altered = {**headers, "X-Amz-Target": "RekognitionService.DeleteCollection"}
    refused(world.post(altered, body), "InvalidSignatureException")
    headers, body = world.signed("caseworker", "ListCollections", {})
    refused(world.post({**headers, "X-Faceledger-Purpose": "testing"}, body),
            "IncompleteSignatureException", "x-faceledger-purpose")  # fmt: skip
    headers, body = world.signed("FLAKUNKNOWNUNKNOWN00", "ListCollections", {})
    refused(world.post(headers, body), "UnrecognizedClientException")
    stale = datetime.now(UTC) - timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale)
    headers, body = world.signed("caseworker", "ListCollections", {})
    monkeypatch.undo()
    refused(world.post(headers, body), "InvalidSignatureException", "Signature expired")
    no_auth = {"X-Amz-Target": "RekognitionService.ListCollections"}
    refused(world.post(no_auth, b"{}"), "MissingAuthenticationTokenException")

    # through boto3: the codes parse into ClientError with the code botocore reads
    with pytest.raises(ClientError) as exc:
        world.client("expired").list_collections()
    assert exc.value.response["Error"]["Code"] == "ExpiredTokenException"
    wrong = boto3.client("rekognition", endpoint_url=world.base, region_name=REGION,
                         aws_access_key_id=world.creds["caseworker"][0],
                         aws_secret_access_key="z" * 40)  # fmt: skip
    with pytest.raises(ClientError) as exc:
        wrong.list_collections()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"

    # audited with the access key id, never a secret
    records = world.audit("operation = 'http.unauthenticated'")
    assert {r["outcome"]["error"] for r in records} >= {
        "InvalidSignatureException", "UnrecognizedClientException", "ExpiredTokenException",
        "IncompleteSignatureException",
    }  # fmt: skip
    assert world.creds["caseworker"][0] in {r["request"]["key_id"] for r in records}
    text = json.dumps(world.audit())
    assert all(secret not in text for _, secret in world.creds.values())
    assert (
        not (world.home / "governance.sqlite3")
        .read_bytes()
        .count(world.creds["caseworker"][1].encode())
    )


def test_bound_credentials_moratorium_and_review(world: World) -> None:
    rek = world.client("missing")
    rek.create_collection(CollectionId="reported-missing")
    for name in ("029940", "029701"):
        rek.index_faces(CollectionId="reported-missing", Image={"Bytes": _image(name)},
                        ExternalImageId=name)  # fmt: skip
    # a credential bound to criminal-investigation: refused during the moratorium
    with pytest.raises(rek.exceptions.AccessDeniedException, match="moratorium"):
        world.client("criminal").search_faces_by_image(
            CollectionId="reported-missing", Image={"Bytes": _image("029940")}
        )
    # a header may not contradict what the credential binds ...
    hooked = world.client("missing")
    hooked.meta.events.register(
        "before-sign.rekognition.*",
        lambda request, **_: request.headers.__setitem__(
            "X-Faceledger-Purpose", "criminal-investigation"
        ),
    )
    with pytest.raises(hooked.exceptions.AccessDeniedException, match="bound to purpose"):
        hooked.list_collections()
    # ... but declares what an unbound credential leaves open
    declared = world.client("unbound")
    headers = {"X-Faceledger-Purpose": "missing-person", "X-Faceledger-Case-Ref": "MP-2",
               "X-Faceledger-Authorization-Ref": "CO-2",
               "X-Faceledger-Authorization-Date": TODAY}  # fmt: skip

    def declare(request, **_):  # noqa: ANN001
        for name, value in headers.items():
            request.headers[name] = value

    declared.meta.events.register("before-sign.rekognition.*", declare)
    r = declared.index_faces(CollectionId="reported-missing", Image={"Bytes": _image("021703")})
    assert len(r["FaceRecords"]) == 1
    undeclared = world.client("unbound")
    with pytest.raises(undeclared.exceptions.AccessDeniedException, match="requires"):
        undeclared.index_faces(CollectionId="reported-missing", Image={"Bytes": _image("021703")})

    # missing-person: held for two reviewers, never an empty "no match"
    with pytest.raises(ClientError) as exc:
        rek.search_faces_by_image(CollectionId="reported-missing",
                                  Image={"Bytes": _image("029940")})  # fmt: skip
    error = exc.value.response["Error"]
    assert error["Code"] == "HumanReviewRequiredException"
    lead = re.search(r"lead_[0-9a-f]+", error["Message"]).group(0)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-faceledger-lead-id"] == lead
    pending = world.post(*world.signed("missing", "FaceledgerGetLead", {"LeadId": lead})).json()
    assert pending["Status"] == "PENDING" and "FaceMatches" not in pending
    for reviewer in ("sergeant", "inspector"):
        assert world.v1("POST", f"/leads/{lead}/confirm", reviewer).status_code == 200
    released = world.v1("GET", f"/leads/{lead}", "officer").json()["lead"]
    assert released["status"] == "released"
    assert released["results"][0]["external_image_id"] == "029940"
    got = world.post(*world.signed("missing", "FaceledgerGetLead", {"LeadId": lead})).json()
    assert got["Status"] == "RELEASED" and got["CaseRef"] == "MP-1"
    assert got["FaceMatches"][0]["Face"]["ExternalImageId"] == "029940"
    assert got["FaceMatches"][0]["Similarity"] >= 99
    _check_raw(world)

    denied = world.audit("operation = 'faces.search_by_image' AND record LIKE '%moratorium%'")
    assert denied[-1]["purpose"] == "criminal-investigation"
    assert denied[-1]["authorization_ref"] == "CO-1"
