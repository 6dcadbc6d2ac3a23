"""The Rekognition operations: parameters checked as the service model constrains them, then one
``FaceService`` (or ``GovernanceService``) call each, the result converted by ``shapes``.

Every call goes through the service layer's unit of work (policy decision, audit record,
review); nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faceledger.api.rekognition import shapes
from faceledger.api.rekognition.params import (
    ATTRIBUTES,
    COLLECTION_ID,
    EXTERNAL_IMAGE_ID,
    FACE_ID,
    LEAD_ID,
    QUALITY_FILTERS,
    Params,
    invalid,
)
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD, DEFAULT_THRESHOLD
from faceledger.governance.context import RequestContext
from faceledger.images import image_size
from faceledger.service.faces import DEFAULT_MAX_RESULTS, FaceService
from faceledger.service.governance import GovernanceService

DEFAULT_LIST = 1000
MAX_INDEX_FACES = 100
"""faceledger finds at most 100 faces in an image; a larger MaxFaces means all of them."""
NO_FACE = "There are no faces in the image. Should be at least 1."


@dataclass
class Env:
    """What an operation needs besides its parameters."""

    faces: FaceService
    governance: GovernanceService
    region: str
    consent: str | None

    @property
    def model(self) -> str:
        return self.faces.engine.model_id


def _arn(env: Env, ctx: RequestContext, collection_id: str) -> str:
    return f"aws:rekognition:{env.region}:{ctx.tenant_id}:collection/{collection_id}"


def _page(p: Params, hi: int, default: int) -> tuple[int, str | None]:
    limit = p.integer("MaxResults", 0, hi, default) or default
    return limit, p.string("NextToken", max_len=255)


# -------------------------------------------------------------------------------- collections


def create_collection(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    info = env.faces.create_collection(ctx, cid).result
    return {
        "StatusCode": 200,
        "CollectionArn": _arn(env, ctx, cid),
        "FaceModelVersion": info.model_id,
    }


def describe_collection(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    info = env.faces.describe_collection(ctx, cid).result
    return {
        "FaceCount": info.face_count,
        "FaceModelVersion": info.model_id,
        "CollectionARN": _arn(env, ctx, cid),
        "CreationTimestamp": shapes.epoch(info.created_at),
        "UserCount": info.user_count,
    }


def list_collections(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    limit, token = _page(p, 4096, DEFAULT_LIST)
    page = env.faces.list_collections(ctx, limit=limit, next_token=token).result
    out: dict[str, Any] = {
        "CollectionIds": [c.collection_id for c in page.items],
        "FaceModelVersions": [c.model_id for c in page.items],
    }
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def delete_collection(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    env.faces.delete_collection(ctx, p.collection())
    return {"StatusCode": 200}


# -------------------------------------------------------------------------------- faces


def index_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    image = p.image()
    external = p.string("ExternalImageId", pattern=EXTERNAL_IMAGE_ID)
    max_faces = p.integer("MaxFaces", 1, None, MAX_INDEX_FACES)
    quality = p.enum("QualityFilter", QUALITY_FILTERS, "AUTO")
    p.string_list(
        "DetectionAttributes", required=False, lo=0, hi=20, pattern=COLLECTION_ID,
        enum=ATTRIBUTES,
    )  # fmt: skip
    result = env.faces.index_faces(
        ctx, cid, image, external_image_id=external, max_faces=min(max_faces, MAX_INDEX_FACES),
        quality_filter="LOW" if quality == "AUTO" else quality, consent=env.consent,
    ).result  # fmt: skip
    width, height = image_size(image)
    return {
        "FaceRecords": [
            {"Face": shapes.stored_face(r), "FaceDetail": shapes.record_detail(r)}
            for r in result.face_records
        ],
        "FaceModelVersion": env.model,
        "UnindexedFaces": [
            {"Reasons": list(u.reasons), "FaceDetail": shapes.face_detail(u.face, width, height)}
            for u in result.unindexed_faces
        ],
    }


def list_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    limit, token = _page(p, 4096, DEFAULT_LIST)
    user_id = p.user_id(required=False)
    face_ids = p.string_list("FaceIds", required=False, lo=1, hi=4096, pattern=FACE_ID)
    page = env.faces.list_faces(
        ctx, cid, limit=limit, next_token=token, user_id=user_id, face_ids=face_ids
    ).result
    out: dict[str, Any] = {"Faces": [shapes.stored_face(f) for f in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    out["FaceModelVersion"] = env.model
    return out


def delete_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    ids = p.face_ids(4096)
    deleted = env.faces.delete_faces(ctx, cid, ids).result
    missing = [f for f in dict.fromkeys(ids) if f not in set(deleted)]
    return {
        "DeletedFaces": deleted,
        "UnsuccessfulFaceDeletions": [
            {"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in missing
        ],
    }


def search_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    face_id = p.face_id()
    kw = _search_options(p, "MaxFaces", "FaceMatchThreshold", 4096)
    result = env.faces.search_faces(ctx, cid, face_id, **kw).result  # type: ignore[arg-type]
    return {
        "SearchedFaceId": face_id,
        "FaceMatches": shapes.face_matches(result.matches),
        "FaceModelVersion": result.model_id,
    }


def search_faces_by_image(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    image = p.image()
    kw = _search_options(p, "MaxFaces", "FaceMatchThreshold", 4096)
    p.enum("QualityFilter", QUALITY_FILTERS, "NONE")
    result = env.faces.search_faces_by_image(ctx, cid, image, **kw).result
    if not result.searches or result.searches[0].searched_face is None:
        raise invalid(NO_FACE)
    face = result.searches[0].searched_face
    width, height = image_size(image)
    return {
        "SearchedFaceBoundingBox": shapes.bounding_box(face.box, width, height),
        "SearchedFaceConfidence": shapes.confidence(face.score),
        "FaceMatches": shapes.face_matches(result.matches),
        "FaceModelVersion": result.model_id,
    }


def _search_options(p: Params, max_name: str, threshold_name: str, hi: int) -> dict[str, Any]:
    return {
        "threshold": p.percent(threshold_name, DEFAULT_SEARCH_THRESHOLD),
        "max_results": p.integer(max_name, 1, hi, DEFAULT_MAX_RESULTS),
    }


# -------------------------------------------------------------------------------- users


def create_user(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    p.client_token()
    env.faces.create_user(ctx, cid, uid)  # type: ignore[arg-type]
    return {}


def delete_user(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    p.client_token()
    env.faces.delete_user(ctx, cid, uid)  # type: ignore[arg-type]
    return {}


def list_users(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    limit = p.integer("MaxResults", 1, 500, 500)
    token = p.string("NextToken", max_len=255)
    page = env.faces.list_users(ctx, cid, limit=limit, next_token=token).result
    out: dict[str, Any] = {"Users": [shapes.user(u.user_id) for u in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def _association(ctx: RequestContext, p: Params, env: Env, associate: bool) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    ids = p.face_ids(100)
    p.client_token()
    if associate:
        p.percent("UserMatchThreshold", 75.0)  # accepted; faceledger does not check it
        r = env.faces.associate_faces(ctx, cid, uid, ids).result  # type: ignore[arg-type]
        done, failed = "AssociatedFaces", "UnsuccessfulFaceAssociations"
    else:
        r = env.faces.disassociate_faces(ctx, cid, uid, ids).result  # type: ignore[arg-type]
        done, failed = "DisassociatedFaces", "UnsuccessfulFaceDisassociations"
    unsuccessful = []
    for face_id, reason in r.unsuccessful:
        if reason == "FACE_NOT_ASSOCIATED_TO_USER":  # not among Rekognition's reasons
            reason = "ASSOCIATED_TO_A_DIFFERENT_USER"
        unsuccessful.append({"FaceId": face_id, "Reasons": [reason]})
    return {
        done: [{"FaceId": f} for f in r.succeeded],
        failed: unsuccessful,
        "UserStatus": "ACTIVE",
    }


def associate_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    return _association(ctx, p, env, True)


def disassociate_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    return _association(ctx, p, env, False)


def search_users(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    face_id = p.face_id(required=False)
    user_id = p.user_id(required=False)
    if (face_id is None) == (user_id is None):
        raise invalid("Give exactly one of FaceId and UserId.")
    if user_id is not None:
        raise invalid("SearchUsers by UserId is not supported by faceledger; search by FaceId.")
    kw = _search_options(p, "MaxUsers", "UserMatchThreshold", 500)
    result = env.faces.search_users(
        ctx, cid, face_id=face_id, threshold=kw["threshold"], max_users=kw["max_results"]
    ).result
    return {
        "UserMatches": _user_matches(result.matches),
        "FaceModelVersion": env.model,
        "SearchedFace": {"FaceId": face_id},
    }


def search_users_by_image(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    image = p.image()
    kw = _search_options(p, "MaxUsers", "UserMatchThreshold", 500)
    p.enum("QualityFilter", QUALITY_FILTERS, "NONE")
    result = env.faces.search_users(
        ctx, cid, image=image, threshold=kw["threshold"], max_users=kw["max_results"]
    ).result
    if result.searched_face is None:
        raise invalid(NO_FACE)
    width, height = image_size(image)
    return {
        "UserMatches": _user_matches(result.matches),
        "FaceModelVersion": env.model,
        "SearchedFace": {"FaceDetail": shapes.face_detail(result.searched_face, width, height)},  # type: ignore[arg-type]
        "UnsearchedFaces": [],
    }


def _user_matches(matches: list[Any]) -> list[dict[str, Any]]:
    return [
        {"Similarity": round(float(m.similarity), 4), "User": shapes.user(m.user_id)}
        for m in matches
    ]


# -------------------------------------------------------------------------------- 1:1, detection


def compare_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    source, target = p.image("SourceImage"), p.image("TargetImage")
    threshold = p.percent("SimilarityThreshold", DEFAULT_THRESHOLD)
    p.enum("QualityFilter", QUALITY_FILTERS, "NONE")
    result = env.faces.compare(ctx, source, target, threshold=threshold).result
    if result.source_face is None:
        raise invalid(NO_FACE + " (SourceImage)")
    sw, sh = image_size(source)
    tw, th = image_size(target)
    src = result.source_face
    matched, unmatched = [], []
    for m in sorted(result.matches, key=lambda m: -m.similarity):
        if m.match:
            face = shapes.face_detail(m.face, tw, th)
            matched.append({"Similarity": round(float(m.similarity), 4), "Face": face})
        else:
            unmatched.append(shapes.face_detail(m.face, tw, th))
    return {
        "SourceImageFace": {
            "BoundingBox": shapes.bounding_box(src.box, sw, sh),
            "Confidence": shapes.confidence(src.score),
        },
        "FaceMatches": matched,
        "UnmatchedFaces": unmatched,
    }


def detect_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    image = p.image()
    p.string_list("Attributes", required=False, lo=0, hi=20, pattern=COLLECTION_ID, enum=ATTRIBUTES)
    faces = env.faces.detect(ctx, image).result
    width, height = image_size(image)
    return {"FaceDetails": [shapes.face_detail(f, width, height) for f in faces]}


# -------------------------------------------------------------------------------- extension


def get_lead(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    """``FaceledgerGetLead``: a lead this account's search opened; results once released."""
    lead = env.governance.get_lead(ctx, p.required("LeadId", max_len=69, pattern=LEAD_ID)).result
    out: dict[str, Any] = {
        "LeadId": lead.id,
        "Status": lead.status.upper(),
        "Operation": lead.operation,
        "Purpose": lead.purpose,
        "CaseRef": lead.case_ref,
        "CreatedAt": shapes.epoch(lead.created_at),
    }
    if lead.closed_at:
        out["ClosedAt"] = shapes.epoch(lead.closed_at)
    out.update(shapes.lead_results(lead.operation, lead.results))
    return {k: v for k, v in out.items() if v is not None}


OPERATIONS: dict[str, Callable[[RequestContext, Params, Env], dict[str, Any]]] = {
    "CreateCollection": create_collection,
    "DescribeCollection": describe_collection,
    "ListCollections": list_collections,
    "DeleteCollection": delete_collection,
    "IndexFaces": index_faces,
    "ListFaces": list_faces,
    "DeleteFaces": delete_faces,
    "SearchFaces": search_faces,
    "SearchFacesByImage": search_faces_by_image,
    "CreateUser": create_user,
    "DeleteUser": delete_user,
    "ListUsers": list_users,
    "AssociateFaces": associate_faces,
    "DisassociateFaces": disassociate_faces,
    "SearchUsers": search_users,
    "SearchUsersByImage": search_users_by_image,
    "CompareFaces": compare_faces,
    "DetectFaces": detect_faces,
    "FaceledgerGetLead": get_lead,
}
