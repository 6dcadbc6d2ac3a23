"""The Rekognition user operations (CreateUser ... SearchUsersByImage): one ``FaceService`` call
each, registered with the request members they read (``params.operation``).

``ClientRequestToken`` (CreateUser, DeleteUser, AssociateFaces, DisassociateFaces) is honoured:
a retry with the same token returns the first result without acting twice, the same token with
other parameters is ``IdempotentParameterMismatchException`` (``service.idempotency``).
"""

from __future__ import annotations

from typing import Any

from faceledger.api.rekognition import shapes
from faceledger.api.rekognition.operations import Env, search_options
from faceledger.api.rekognition.params import Params, invalid, operation
from faceledger.governance.context import RequestContext
from faceledger.images import image_size

DEFAULT_USER_MATCH_THRESHOLD = 75.0
"""AssociateFaces' UserMatchThreshold when the request has none (the service model's default)."""


@operation("CreateUser", "CollectionId", "UserId", "ClientRequestToken")
def create_user(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    env.faces.create_user(ctx, cid, uid, client_token=p.client_token())  # type: ignore[arg-type]
    return {}


@operation("DeleteUser", "CollectionId", "UserId", "ClientRequestToken")
def delete_user(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    env.faces.delete_user(ctx, cid, uid, client_token=p.client_token())  # type: ignore[arg-type]
    return {}


@operation("ListUsers", "CollectionId", "MaxResults", "NextToken")
def list_users(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    limit = p.integer("MaxResults", 1, 500, 500)
    token = p.string("NextToken", max_len=255)
    page = env.faces.list_users(ctx, cid, limit=limit, next_token=token).result
    out: dict[str, Any] = {"Users": [shapes.user(u.user_id) for u in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


@operation(
    "AssociateFaces", "CollectionId", "UserId", "FaceIds", "UserMatchThreshold",
    "ClientRequestToken",
)  # fmt: skip
def associate_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    ids = p.face_ids(100)
    threshold = p.percent("UserMatchThreshold", DEFAULT_USER_MATCH_THRESHOLD)
    r = env.faces.associate_faces(
        ctx, cid, uid, ids, min_user_similarity=threshold,  # type: ignore[arg-type]
        client_token=p.client_token(),
    ).result  # fmt: skip
    unsuccessful = []
    for face_id, reason in r.unsuccessful:
        item: dict[str, Any] = {"FaceId": face_id, "Reasons": [reason]}
        if face_id in r.similarities:
            item["Confidence"] = r.similarities[face_id]
        unsuccessful.append(item)
    return {
        "AssociatedFaces": [{"FaceId": f} for f in r.succeeded],
        "UnsuccessfulFaceAssociations": unsuccessful,
        "UserStatus": "ACTIVE",
    }


@operation("DisassociateFaces", "CollectionId", "UserId", "ClientRequestToken", "FaceIds")
def disassociate_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid, uid = p.collection(), p.user_id()
    ids = p.face_ids(100)
    r = env.faces.disassociate_faces(ctx, cid, uid, ids, client_token=p.client_token()).result  # type: ignore[arg-type]
    unsuccessful = []
    for face_id, reason in r.unsuccessful:
        if reason == "FACE_NOT_ASSOCIATED_TO_USER":  # not among Rekognition's reasons
            reason = "ASSOCIATED_TO_A_DIFFERENT_USER"
        unsuccessful.append({"FaceId": face_id, "Reasons": [reason]})
    return {
        "DisassociatedFaces": [{"FaceId": f} for f in r.succeeded],
        "UnsuccessfulFaceDisassociations": unsuccessful,
        "UserStatus": "ACTIVE",
    }


@operation("SearchUsers", "CollectionId", "UserId", "FaceId", "UserMatchThreshold", "MaxUsers")
def search_users(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    face_id = p.face_id(required=False)
    user_id = p.user_id(required=False)
    if (face_id is None) == (user_id is None):
        raise invalid("Give exactly one of FaceId and UserId.")
    kw = search_options(p, "MaxUsers", "UserMatchThreshold", 500)
    result = env.faces.search_users(
        ctx, cid, face_id=face_id, user_id=user_id, threshold=kw["threshold"],
        max_users=kw["max_results"],
    ).result  # fmt: skip
    out: dict[str, Any] = {
        "UserMatches": user_matches(result.matches),
        "FaceModelVersion": env.model,
    }
    if face_id is not None:
        out["SearchedFace"] = {"FaceId": face_id}
    else:
        out["SearchedUser"] = {"UserId": user_id}
    return out


@operation(
    "SearchUsersByImage", "CollectionId", "Image", "UserMatchThreshold", "MaxUsers",
    "QualityFilter",
)  # fmt: skip
def search_users_by_image(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    """The largest face that passes ``QualityFilter`` is searched; the other faces come back
    in ``UnsearchedFaces`` with why. No such face: no matches and no ``SearchedFace``."""
    cid = p.collection()
    image = p.image()
    kw = search_options(p, "MaxUsers", "UserMatchThreshold", 500)
    quality = p.quality("NONE")
    result = env.faces.search_users(
        ctx, cid, image=image, threshold=kw["threshold"], max_users=kw["max_results"],
        quality_filter=quality,
    ).result  # fmt: skip
    width, height = image_size(image)
    out: dict[str, Any] = {
        "UserMatches": user_matches(result.matches),
        "FaceModelVersion": env.model,
    }
    if result.searched_face is not None:
        detail = shapes.face_detail(result.searched_face, width, height)  # type: ignore[arg-type]
        out["SearchedFace"] = {"FaceDetail": detail}
    out["UnsearchedFaces"] = [
        {"FaceDetails": shapes.face_detail(u.face, width, height), "Reasons": list(u.reasons)}
        for u in result.unsearched_faces
    ]
    return out


def user_matches(matches: list[Any]) -> list[dict[str, Any]]:
    return [
        {"Similarity": round(float(m.similarity), 4), "User": shapes.user(m.user_id)}
        for m in matches
    ]
