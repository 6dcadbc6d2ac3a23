"""The Rekognition operations on collections, faces, comparison and detection (users in
``users``): parameters checked as the service model constrains them, then one ``FaceService``
(or ``GovernanceService``) call each, the result converted by ``shapes``. Each registers the
request members it reads (``params.operation``); any other member is refused.

Every call goes through the service layer's unit of work (policy decision, audit record,
review); nothing here touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faceledger.api.rekognition import shapes
from faceledger.api.rekognition.params import (
    EXTERNAL_IMAGE_ID,
    FACE_ID,
    LEAD_ID,
    Params,
    invalid,
    operation,
)
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD, DEFAULT_THRESHOLD
from faceledger.governance.context import RequestContext
from faceledger.images import image_size
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService
from faceledger.service.limits import DEFAULT_MAX_RESULTS

DEFAULT_LIST = 1000
MAX_INDEX_FACES = 100
"""faceledger finds at most 100 faces in an image; a larger MaxFaces means all of them."""
NO_FACE = "There are no faces in the image. Should be at least 1."


def no_face(unsearched: list[Any], quality: str, what: str = "") -> str:
    """NO_FACE, saying when the quality filter left faces out."""
    if not unsearched:
        return NO_FACE + what
    reasons = sorted({r for u in unsearched for r in u.reasons})
    return (
        f"{NO_FACE}{what} {len(unsearched)} face(s) were below QualityFilter {quality} "
        f"({', '.join(reasons)}); QualityFilter NONE searches them."
    )


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


@operation("CreateCollection", "CollectionId", "Tags")
def create_collection(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    if p.present("Tags"):
        raise invalid(
            "Tags is not supported: faceledger keeps no tags on collections (and has no "
            "TagResource); leave it out."
        )
    info = env.faces.create_collection(ctx, cid).result
    return {
        "StatusCode": 200,
        "CollectionArn": _arn(env, ctx, cid),
        "FaceModelVersion": info.model_id,
    }


@operation("DescribeCollection", "CollectionId")
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


@operation("ListCollections", "NextToken", "MaxResults")
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


@operation("DeleteCollection", "CollectionId")
def delete_collection(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    env.faces.delete_collection(ctx, p.collection())
    return {"StatusCode": 200}


# -------------------------------------------------------------------------------- faces


@operation(
    "IndexFaces", "CollectionId", "Image", "ExternalImageId", "DetectionAttributes", "MaxFaces",
    "QualityFilter",
)  # fmt: skip
def index_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    image = p.image()
    external = p.string("ExternalImageId", pattern=EXTERNAL_IMAGE_ID)
    max_faces = p.integer("MaxFaces", 1, None, MAX_INDEX_FACES)
    quality = p.quality("AUTO")
    p.attributes("DetectionAttributes")
    result = env.faces.index_faces(
        ctx, cid, image, external_image_id=external, max_faces=min(max_faces, MAX_INDEX_FACES),
        quality_filter=quality, consent=env.consent,
    ).result  # fmt: skip
    width, height = image_size(image)
    detected = result.faces if len(result.faces) == len(result.face_records) else []
    return {
        "FaceRecords": [
            {
                "Face": shapes.stored_face(r),
                "FaceDetail": shapes.face_detail(detected[i], width, height)
                if detected
                else shapes.record_detail(r),
            }
            for i, r in enumerate(result.face_records)
        ],
        "FaceModelVersion": env.model,
        "UnindexedFaces": [
            {"Reasons": list(u.reasons), "FaceDetail": shapes.face_detail(u.face, width, height)}
            for u in result.unindexed_faces
        ],
    }


@operation("ListFaces", "CollectionId", "NextToken", "MaxResults", "UserId", "FaceIds")
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


@operation("DeleteFaces", "CollectionId", "FaceIds")
def delete_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    ids = p.face_ids(4096)
    r = env.faces.delete_unassociated_faces(ctx, cid, ids).result
    unsuccessful = []
    for f in dict.fromkeys(ids):
        if f in r.associated:
            unsuccessful.append(
                {
                    "FaceId": f,
                    "UserId": r.associated[f],
                    "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"],
                }
            )
        elif f not in set(r.deleted):
            unsuccessful.append({"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]})
    return {"DeletedFaces": r.deleted, "UnsuccessfulFaceDeletions": unsuccessful}


@operation("SearchFaces", "CollectionId", "FaceId", "MaxFaces", "FaceMatchThreshold")
def search_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    face_id = p.face_id()
    kw = search_options(p, "MaxFaces", "FaceMatchThreshold", 4096)
    result = env.faces.search_faces(ctx, cid, face_id, **kw).result  # type: ignore[arg-type]
    return {
        "SearchedFaceId": face_id,
        "FaceMatches": shapes.face_matches(result.matches),
        "FaceModelVersion": result.model_id,
    }


@operation(
    "SearchFacesByImage", "CollectionId", "Image", "MaxFaces", "FaceMatchThreshold",
    "QualityFilter",
)  # fmt: skip
def search_faces_by_image(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    cid = p.collection()
    image = p.image()
    kw = search_options(p, "MaxFaces", "FaceMatchThreshold", 4096)
    quality = p.quality("NONE")
    result = env.faces.search_faces_by_image(ctx, cid, image, quality_filter=quality, **kw).result
    if not result.searches or result.searches[0].searched_face is None:
        raise invalid(no_face(result.unsearched_faces, quality))
    face = result.searches[0].searched_face
    width, height = image_size(image)
    return {
        "SearchedFaceBoundingBox": shapes.bounding_box(face.box, width, height),
        "SearchedFaceConfidence": shapes.confidence(face.score),
        "FaceMatches": shapes.face_matches(result.matches),
        "FaceModelVersion": result.model_id,
    }


def search_options(p: Params, max_name: str, threshold_name: str, hi: int) -> dict[str, Any]:
    return {
        "threshold": p.percent(threshold_name, DEFAULT_SEARCH_THRESHOLD),
        "max_results": p.integer(max_name, 1, hi, DEFAULT_MAX_RESULTS),
    }


# -------------------------------------------------------------------------------- 1:1, detection


@operation("CompareFaces", "SourceImage", "TargetImage", "SimilarityThreshold", "QualityFilter")
def compare_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    source, target = p.image("SourceImage"), p.image("TargetImage")
    threshold = p.percent("SimilarityThreshold", DEFAULT_THRESHOLD)
    quality = p.quality("NONE")
    result = env.faces.compare(
        ctx, source, target, threshold=threshold, quality_filter=quality
    ).result
    if result.source_face is None:
        hint = "" if quality == "NONE" else f" passing QualityFilter {quality}"
        raise invalid(f"{NO_FACE} (SourceImage{hint})")
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


@operation("DetectFaces", "Image", "Attributes")
def detect_faces(ctx: RequestContext, p: Params, env: Env) -> dict[str, Any]:
    image = p.image()
    p.attributes("Attributes")
    faces = env.faces.detect(ctx, image).result
    width, height = image_size(image)
    return {"FaceDetails": [shapes.face_detail(f, width, height) for f in faces]}


# -------------------------------------------------------------------------------- extension


@operation("FaceledgerGetLead", "LeadId")
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
