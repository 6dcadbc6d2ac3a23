"""The Rekognition API against botocore's service model, with boto3 and a real ``faceledger
serve`` (``rekognition_world``): search users by user, QualityFilter, UnsearchedFaces,
UserMatchThreshold, ClientRequestToken, and every request member of the 18 operations either
read or refused by name, every response in its output shape with what the service always
returns."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid

import botocore.session
import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageFilter
from rekognition_world import World

from faceledger.api.rekognition import protocol  # noqa: F401 - registers every operation
from faceledger.api.rekognition.operations import Env
from faceledger.api.rekognition.params import MEMBERS, OPERATIONS, Params
from testdata import CONGRESS, encode

ORG = "Shelter"
COLLECTION = "compat"
EIGHTEEN = [
    "CreateCollection", "DescribeCollection", "ListCollections", "DeleteCollection", "IndexFaces",
    "ListFaces", "DeleteFaces", "SearchFaces", "SearchFacesByImage", "CreateUser", "DeleteUser",
    "ListUsers", "AssociateFaces", "DisassociateFaces", "SearchUsers", "SearchUsersByImage",
    "CompareFaces", "DetectFaces",
]  # fmt: skip


def _portrait(name: str) -> bytes:
    return (CONGRESS / f"{name}.jpg").read_bytes()


def _mirrored(name: str) -> bytes:
    return encode(Image.open(CONGRESS / f"{name}.jpg").transpose(Image.FLIP_LEFT_RIGHT))


def _blurred_and_sharp() -> bytes:
    """700x400: a large face blurred (sharpness ~11, left) and a smaller sharp one (right, the
    person of 029940; 63 px, so below HIGH's 80)."""
    canvas = Image.new("RGB", (700, 400), (128, 128, 128))
    big = Image.open(CONGRESS / "021352.jpg").convert("RGB")
    big = big.resize((int(big.width * 1.5), int(big.height * 1.5)))
    canvas.paste(big.filter(ImageFilter.GaussianBlur(4)), (10, 10))
    canvas.paste(Image.open(CONGRESS / "029940.jpg").convert("RGB"), (400, 10))
    return encode(canvas)


@pytest.fixture(scope="module")
def setup(rekognition_world: World):  # noqa: ANN201
    w = rekognition_world
    w.run("admin", "create-org", ORG, "--actor-class", "child-protection")
    w.run("admin", "create-account", ORG, "worker", "--role", "operator")
    w.sigv4("shelter", f"{ORG}/worker", "--purpose", "missing-person", "--case-ref", "SH-1",
            "--consent", "guardian-consent")  # fmt: skip
    rek = w.client("shelter")
    rek.create_collection(CollectionId=COLLECTION)
    faces = {}
    for name, image in [("a1", _portrait("029940")), ("a2", _mirrored("029940")),
                        ("b1", _portrait("021352")), ("c1", _portrait("021506"))]:  # fmt: skip
        r = rek.index_faces(CollectionId=COLLECTION, Image={"Bytes": image}, ExternalImageId=name)
        faces[name] = r["FaceRecords"][0]["Face"]["FaceId"]
    for user, face in [("a", "a1"), ("a-again", "a2"), ("b", "b1")]:
        rek.create_user(CollectionId=COLLECTION, UserId=user)
        rek.associate_faces(CollectionId=COLLECTION, UserId=user, FaceIds=[faces[face]])
    rek.create_user(CollectionId=COLLECTION, UserId="empty")
    return w, rek, faces


def test_search_users_by_user_and_user_match_threshold(setup) -> None:
    w, rek, faces = setup
    r = rek.search_users(CollectionId=COLLECTION, UserId="a", UserMatchThreshold=0)
    assert r["SearchedUser"] == {"UserId": "a"} and "SearchedFace" not in r
    ranked = [(m["User"]["UserId"], m["Similarity"]) for m in r["UserMatches"]]
    assert [u for u, _ in ranked][:1] == ["a-again"] and "a" not in {u for u, _ in ranked}
    assert {u for u, _ in ranked} == {"a-again", "b"}  # "empty" has no faces: matches nobody
    # the threshold applies: between the mirror image and the other person, only the mirror
    between = (ranked[0][1] + ranked[1][1]) / 2
    r = rek.search_users(CollectionId=COLLECTION, UserId="a", UserMatchThreshold=between)
    assert [m["User"]["UserId"] for m in r["UserMatches"]] == ["a-again"]
    r = rek.search_users(CollectionId=COLLECTION, FaceId=faces["a1"], UserMatchThreshold=between)
    assert [m["User"]["UserId"] for m in r["UserMatches"]] == ["a-again"]
    assert r["SearchedFace"] == {"FaceId": faces["a1"]}
    assert rek.search_users(CollectionId=COLLECTION, UserId="empty")["UserMatches"] == []
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.search_users(CollectionId=COLLECTION, UserId="nobody")
    with pytest.raises(rek.exceptions.InvalidParameterException, match="exactly one"):
        rek.search_users(CollectionId=COLLECTION, UserId="a", FaceId=faces["a1"])

    # AssociateFaces: UserMatchThreshold (default 75) keeps another person's face out
    r = rek.associate_faces(CollectionId=COLLECTION, UserId="a", FaceIds=[faces["c1"]])
    (refused,) = r["UnsuccessfulFaceAssociations"]
    assert refused["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and refused["Confidence"] < 75
    assert r["AssociatedFaces"] == []
    r = rek.associate_faces(CollectionId=COLLECTION, UserId="a", FaceIds=[faces["c1"]],
                            UserMatchThreshold=refused["Confidence"] + 1)  # fmt: skip
    assert r["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    r = rek.associate_faces(CollectionId=COLLECTION, UserId="a", FaceIds=[faces["c1"]],
                            UserMatchThreshold=max(0.0, refused["Confidence"] - 1))  # fmt: skip
    assert r["AssociatedFaces"] == [{"FaceId": faces["c1"]}]
    rek.disassociate_faces(CollectionId=COLLECTION, UserId="a", FaceIds=[faces["c1"]])
    assert w.check_raw() >= {"SearchUsers", "AssociateFaces"}
    (audited,) = [r for r in w.audit("operation = 'users.search'")
                  if r["request"].get("user_id") == "nobody"]  # fmt: skip
    assert audited["outcome"]["status"] == "error"


def test_quality_filter_and_unsearched_faces(setup) -> None:
    w, rek, faces = setup
    group = _blurred_and_sharp()
    blurred_left, sharp_left = 107 / 700, 454 / 700

    r = rek.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  FaceMatchThreshold=0)  # fmt: skip
    assert r["SearchedFaceBoundingBox"]["Left"] == pytest.approx(blurred_left, abs=0.02)
    r = rek.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  FaceMatchThreshold=0, QualityFilter="MEDIUM")  # fmt: skip
    assert r["SearchedFaceBoundingBox"]["Left"] == pytest.approx(sharp_left, abs=0.02)
    assert r["FaceMatches"][0]["Face"]["ExternalImageId"] == "a1"
    with pytest.raises(rek.exceptions.InvalidParameterException, match="QualityFilter HIGH"):
        rek.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  QualityFilter="HIGH")  # fmt: skip

    r = rek.search_users_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  UserMatchThreshold=0)  # fmt: skip
    (other,) = r["UnsearchedFaces"]
    assert other["Reasons"] == ["FACE_NOT_LARGEST"]
    assert other["FaceDetails"]["BoundingBox"]["Left"] == pytest.approx(sharp_left, abs=0.02)
    r = rek.search_users_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  UserMatchThreshold=0, QualityFilter="MEDIUM")  # fmt: skip
    box = r["SearchedFace"]["FaceDetail"]["BoundingBox"]
    assert box["Left"] == pytest.approx(sharp_left, abs=0.02)
    assert r["UserMatches"][0]["User"]["UserId"] in ("a", "a-again")
    (other,) = r["UnsearchedFaces"]
    assert other["Reasons"] == ["LOW_SHARPNESS"]
    assert other["FaceDetails"]["BoundingBox"]["Left"] == pytest.approx(blurred_left, abs=0.02)
    # no face passes: no matches, no SearchedFace, both faces with why (as the model says)
    r = rek.search_users_by_image(CollectionId=COLLECTION, Image={"Bytes": group},
                                  QualityFilter="HIGH")  # fmt: skip
    assert r["UserMatches"] == [] and "SearchedFace" not in r
    reasons = [u["Reasons"] for u in r["UnsearchedFaces"]]
    assert reasons == [["LOW_SHARPNESS"], ["SMALL_BOUNDING_BOX"]]

    # CompareFaces: faces below the bar are not compared
    r = rek.compare_faces(SourceImage={"Bytes": _portrait("029940")},
                          TargetImage={"Bytes": group}, SimilarityThreshold=0)  # fmt: skip
    assert len(r["FaceMatches"]) + len(r["UnmatchedFaces"]) == 2
    r = rek.compare_faces(SourceImage={"Bytes": _portrait("029940")}, TargetImage={"Bytes": group},
                          SimilarityThreshold=0, QualityFilter="MEDIUM")  # fmt: skip
    (match,) = r["FaceMatches"]
    assert r["UnmatchedFaces"] == [] and match["Similarity"] > 90
    with pytest.raises(rek.exceptions.InvalidParameterException, match="SourceImage passing"):
        rek.compare_faces(SourceImage={"Bytes": group}, TargetImage={"Bytes": group},
                          QualityFilter="HIGH")  # fmt: skip
    assert w.check_raw() >= {"SearchFacesByImage", "SearchUsersByImage", "CompareFaces"}
    (audited,) = [r for r in w.audit("operation = 'faces.search_by_image'")
                  if r["request"].get("quality_filter") == "MEDIUM"]  # fmt: skip
    assert audited["outcome"]["faces_not_searched"] == 1


def _next_second() -> None:
    """Wait for the clock's next second: a retry signed in the same second as the first try is
    the same signature, which the server refuses as a replay (sign every request anew)."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def test_client_request_tokens(setup) -> None:
    w, rek, faces = setup
    created = rek.create_user(CollectionId=COLLECTION, UserId="t1", ClientRequestToken="tok-1")
    _next_second()
    again = rek.create_user(CollectionId=COLLECTION, UserId="t1", ClientRequestToken="tok-1")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == again["ResponseMetadata"][
        "HTTPStatusCode"] == 200  # fmt: skip
    with pytest.raises(rek.exceptions.ConflictException):  # a new request (botocore's token)
        rek.create_user(CollectionId=COLLECTION, UserId="t1")
    with pytest.raises(rek.exceptions.IdempotentParameterMismatchException, match="tok-1"):
        rek.create_user(CollectionId=COLLECTION, UserId="t2", ClientRequestToken="tok-1")
    with pytest.raises(rek.exceptions.IdempotentParameterMismatchException):
        rek.delete_user(CollectionId=COLLECTION, UserId="t1", ClientRequestToken="tok-1")
    users = {u["UserId"] for u in rek.list_users(CollectionId=COLLECTION)["Users"]}
    assert "t1" in users and "t2" not in users

    # a retried association answers as the first and does not act again
    first = rek.associate_faces(CollectionId=COLLECTION, UserId="t1", FaceIds=[faces["c1"]],
                                ClientRequestToken="tok-assoc")  # fmt: skip
    assert first["AssociatedFaces"] == [{"FaceId": faces["c1"]}]
    rek.disassociate_faces(CollectionId=COLLECTION, UserId="t1", FaceIds=[faces["c1"]],
                           ClientRequestToken="tok-dis")  # fmt: skip
    _next_second()
    retried = rek.associate_faces(CollectionId=COLLECTION, UserId="t1", FaceIds=[faces["c1"]],
                                  ClientRequestToken="tok-assoc")  # fmt: skip
    assert retried["AssociatedFaces"] == first["AssociatedFaces"]
    assert rek.list_faces(CollectionId=COLLECTION, UserId="t1")["Faces"] == []  # not redone
    with pytest.raises(rek.exceptions.IdempotentParameterMismatchException):
        rek.associate_faces(CollectionId=COLLECTION, UserId="t1", FaceIds=[faces["b1"]],
                            ClientRequestToken="tok-assoc")  # fmt: skip
    _next_second()
    dis = rek.disassociate_faces(CollectionId=COLLECTION, UserId="t1", FaceIds=[faces["c1"]],
                                 ClientRequestToken="tok-dis")  # fmt: skip
    assert dis["DisassociatedFaces"] == [{"FaceId": faces["c1"]}]  # the first answer

    rek.delete_user(CollectionId=COLLECTION, UserId="t1", ClientRequestToken="tok-del")
    _next_second()
    rek.delete_user(CollectionId=COLLECTION, UserId="t1", ClientRequestToken="tok-del")
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.delete_user(CollectionId=COLLECTION, UserId="t1")
    w.check_raw()

    # every retry is decided and recorded like any request, and says it was a replay
    records = [r for r in w.audit("operation = 'users.create'")
               if r["request"].get("client_request_token") == "tok-1"]  # fmt: skip
    assert [r["outcome"]["status"] for r in records] == ["ok", "ok", "error"]
    assert [r["outcome"].get("replayed") for r in records[:2]] == [None, True]
    assert records[2]["outcome"]["error"] == "idempotency_mismatch"


def test_faces_of_a_user_association_and_deletion(setup) -> None:
    w, rek, faces = setup
    again = rek.associate_faces(CollectionId=COLLECTION, UserId="a", FaceIds=[faces["a1"]])
    assert again["AssociatedFaces"] == [] and again["UnsuccessfulFaceAssociations"] == []
    listed = rek.list_faces(CollectionId=COLLECTION, UserId="a")["Faces"]
    assert [f["FaceId"] for f in listed] == [faces["a1"]]

    # DeleteFaces refuses a face associated with a user, as the cloud service does
    gone = str(uuid.uuid4())
    r = rek.delete_faces(CollectionId=COLLECTION, FaceIds=[faces["a1"], gone])
    assert r["DeletedFaces"] == []
    assert r["UnsuccessfulFaceDeletions"] == [
        {"FaceId": faces["a1"], "UserId": "a", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]},
        {"FaceId": gone, "Reasons": ["FACE_NOT_FOUND"]},
    ]
    listed = rek.list_faces(CollectionId=COLLECTION, UserId="a")["Faces"]
    assert [f["FaceId"] for f in listed] == [faces["a1"]]
    (audited,) = [a for a in w.audit("operation = 'faces.delete'")
                  if faces["a1"] in a["request"].get("face_ids", [])]  # fmt: skip
    assert audited["outcome"]["skipped"] == [faces["a1"]]
    w.check_raw()


def test_refused_members_are_named(setup) -> None:
    w, rek, _ = setup
    with pytest.raises(rek.exceptions.InvalidParameterException, match="Tags"):
        rek.create_collection(CollectionId="tagged", Tags={"team": "x"})
    assert rek.create_collection(CollectionId="untagged", Tags={})["StatusCode"] == 200
    rek.delete_collection(CollectionId="untagged")
    with pytest.raises(rek.exceptions.InvalidParameterException, match="Attributes ALL"):
        rek.detect_faces(Image={"Bytes": _portrait("029940")}, Attributes=["ALL"])
    with pytest.raises(rek.exceptions.InvalidParameterException, match="AGE_RANGE, GENDER"):
        rek.index_faces(CollectionId=COLLECTION, Image={"Bytes": _portrait("029940")},
                        DetectionAttributes=["DEFAULT", "AGE_RANGE", "GENDER"])  # fmt: skip
    # a member the operation does not have (a raw client; botocore would not send it)
    r = w.post(*w.signed("shelter", "ListFaces", {"CollectionId": COLLECTION, "MaxFace": 1}))
    assert r.status_code == 400 and r.json()["__type"] == "InvalidParameterException"
    assert "MaxFace" in r.json()["Message"] and "MaxResults" in r.json()["Message"]


def _service_model():  # noqa: ANN202
    return botocore.session.get_session().get_service_model("rekognition")


def test_every_model_member_is_read(tmp_path, engine) -> None:
    """Each operation declares exactly the service model's request members, and its handler
    reads every one it declares (a member never read would be silently ignored). Run in
    process against a real runtime: parameters are read before the service is called."""
    from api_helpers import make_world

    model = _service_model()
    assert set(EIGHTEEN) <= set(model.operation_names)
    assert set(OPERATIONS) == set(EIGHTEEN) | {"FaceledgerGetLead"}
    world = make_world(tmp_path, engine, actor_class="research")
    runtime = world.app.state.runtime
    ctx = runtime.principals.authenticate(world.orgs["A"].keys["operator"], request_id="r")
    env = Env(runtime.faces, runtime.governance, "us-east-1", None)
    blank = encode(Image.new("RGB", (16, 16), (128, 128, 128)))  # decodes fast, no face
    image = {"Bytes": base64.b64encode(blank).decode()}
    sample = {
        "CollectionId": "nowhere", "Image": image, "SourceImage": image, "TargetImage": image,
        "ExternalImageId": "x", "DetectionAttributes": ["DEFAULT"], "Attributes": ["DEFAULT"],
        "MaxFaces": 1, "MaxResults": 1, "MaxUsers": 1, "QualityFilter": "NONE",
        "NextToken": "t", "UserId": "u", "FaceIds": [str(uuid.uuid4())],
        "FaceId": str(uuid.uuid4()), "FaceMatchThreshold": 50, "UserMatchThreshold": 50,
        "SimilarityThreshold": 50, "ClientRequestToken": "tok", "Tags": {},
    }  # fmt: skip
    try:
        for name in EIGHTEEN:
            members = set(model.operation_model(name).input_shape.members)
            assert MEMBERS[name] == members, name
            bodies = [{m: sample[m] for m in members}]
            if name == "SearchUsers":  # exactly one of FaceId and UserId
                bodies = [{m: sample[m] for m in members - {x}} for x in ("FaceId", "UserId")]
            read: set[str] = set()
            for body in bodies:
                params = Params(json.loads(json.dumps(body)))
                with contextlib.suppress(Exception):  # "nowhere" does not exist: reads are done
                    OPERATIONS[name](ctx, params, env)
                read |= params.read
            assert members <= read, (name, members - read)
    finally:
        world.app.state.close()
        world.db.close()


ALWAYS = {
    # members the real service returns on every successful call (beyond "required")
    "CreateCollection": ["StatusCode", "CollectionArn", "FaceModelVersion"],
    "DescribeCollection": [
        "FaceCount",
        "FaceModelVersion",
        "CollectionARN",
        "CreationTimestamp",
        "UserCount",
    ],  # fmt: skip
    "ListCollections": ["CollectionIds", "FaceModelVersions"],
    "DeleteCollection": ["StatusCode"],
    "IndexFaces": [
        "FaceRecords",
        "FaceModelVersion",
        "UnindexedFaces",
        "FaceRecords.Face.FaceId",
        "FaceRecords.Face.ImageId",
        "FaceRecords.Face.BoundingBox",
        "FaceRecords.Face.Confidence",
        "FaceRecords.FaceDetail.BoundingBox",
        "FaceRecords.FaceDetail.Landmarks",
        "FaceRecords.FaceDetail.Pose",
        "FaceRecords.FaceDetail.Quality",
        "FaceRecords.FaceDetail.Confidence",
    ],  # fmt: skip
    "ListFaces": ["Faces", "FaceModelVersion"],
    "DeleteFaces": ["DeletedFaces", "UnsuccessfulFaceDeletions"],
    "SearchFaces": ["SearchedFaceId", "FaceMatches", "FaceModelVersion"],
    "SearchFacesByImage": [
        "SearchedFaceBoundingBox",
        "SearchedFaceConfidence",
        "FaceMatches",
        "FaceModelVersion",
    ],  # fmt: skip
    "CreateUser": [],
    "DeleteUser": [],
    "ListUsers": ["Users"],
    "AssociateFaces": ["AssociatedFaces", "UnsuccessfulFaceAssociations", "UserStatus"],
    "DisassociateFaces": ["DisassociatedFaces", "UnsuccessfulFaceDisassociations", "UserStatus"],
    "SearchUsers": ["UserMatches", "FaceModelVersion", "SearchedFace"],
    "SearchUsersByImage": [
        "UserMatches",
        "FaceModelVersion",
        "SearchedFace",
        "SearchedFace.FaceDetail.BoundingBox",
        "UnsearchedFaces",
    ],  # fmt: skip
    "CompareFaces": [
        "SourceImageFace",
        "FaceMatches",
        "UnmatchedFaces",
        "FaceMatches.Face.Landmarks",
        "FaceMatches.Face.Pose",
        "FaceMatches.Face.Quality",
    ],  # fmt: skip
    "DetectFaces": [
        "FaceDetails",
        "FaceDetails.BoundingBox",
        "FaceDetails.Landmarks",
        "FaceDetails.Pose",
        "FaceDetails.Quality",
        "FaceDetails.Confidence",
    ],  # fmt: skip
}


def _has(value: object, path: list[str]) -> bool:
    if not path:
        return True
    if isinstance(value, list):
        return bool(value) and all(_has(v, path) for v in value)
    return isinstance(value, dict) and path[0] in value and _has(value[path[0]], path[1:])


def test_every_operation_answers_in_its_output_shape(setup) -> None:
    """One successful call of each of the 18 operations, its raw JSON validated against the
    service model's output shape, with every member the real service always returns."""
    w, _, faces = setup
    rek = w.client("shelter")
    answers: dict[str, dict] = {}

    def keep(operation_model, response_dict, **_):  # noqa: ANN001
        if response_dict["status_code"] == 200:
            answers[operation_model.name] = json.loads(response_dict["body"] or b"{}")

    rek.meta.events.register("before-parse.rekognition.*", keep)
    image = {"Bytes": _portrait("021703")}
    rek.create_collection(CollectionId="shapes")
    rek.describe_collection(CollectionId="shapes")
    rek.list_collections()
    indexed = rek.index_faces(CollectionId="shapes", Image=image, ExternalImageId="s")
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    rek.list_faces(CollectionId="shapes")
    rek.search_faces(CollectionId="shapes", FaceId=face_id)
    rek.search_faces_by_image(CollectionId="shapes", Image=image)
    rek.create_user(CollectionId="shapes", UserId="s")
    rek.list_users(CollectionId="shapes")
    rek.associate_faces(CollectionId="shapes", UserId="s", FaceIds=[face_id])
    rek.search_users(CollectionId=COLLECTION, FaceId=faces["a1"], UserMatchThreshold=0)
    rek.search_users_by_image(CollectionId="shapes", Image=image)
    rek.disassociate_faces(CollectionId="shapes", UserId="s", FaceIds=[face_id])
    rek.delete_user(CollectionId="shapes", UserId="s")
    rek.compare_faces(SourceImage=image, TargetImage=image)
    rek.detect_faces(Image=image)
    rek.delete_faces(CollectionId="shapes", FaceIds=[face_id])
    rek.delete_collection(CollectionId="shapes")
    w.check_raw()
    assert set(answers) == set(EIGHTEEN)
    model = _service_model()
    for name, body in answers.items():
        from rekognition_shapes import validate_output

        validate_output(name, body)
        for path in ALWAYS[name]:
            assert _has(body, path.split(".")), (name, path)
        assert set(body) <= set(model.operation_model(name).output_shape.members), name
    w.check_raw()


def test_errors_parse_into_modeled_exceptions(setup) -> None:
    """The new error types are in each operation's modeled errors."""
    model = _service_model()
    for name in ("CreateUser", "DeleteUser", "AssociateFaces", "DisassociateFaces"):
        errors = {e.name for e in model.operation_model(name).error_shapes}
        assert "IdempotentParameterMismatchException" in errors
    _, rek, _ = setup
    with pytest.raises(ClientError) as exc:
        rek.search_users(CollectionId=COLLECTION, UserId="nobody")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
