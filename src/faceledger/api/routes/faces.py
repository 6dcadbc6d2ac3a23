"""Faces: index an uploaded image, list, delete, and 1:N search (by image or by stored face)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from faceledger.api.deps import Principal
from faceledger.api.models import (
    DeletedFaces,
    FaceList,
    FaceSearchResponse,
    IndexFacesResponse,
)
from faceledger.api.models_crops import Crop
from faceledger.api.routes.common import (
    AGE_BAND_HELP,
    APPROXIMATE_HELP,
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    IMAGE_ERRORS,
    NOT_FOUND,
    PENDING,
    TOO_LARGE,
    AgeBand,
    Limit,
    NextToken,
    SearchOptions,
    crop_body,
    faces,
    read_upload,
    with_decision,
)
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import FaceService, QualityFilter

router = APIRouter(prefix="/v1/collections/{collection_id}", tags=["faces"])
Service = Annotated[FaceService, Depends(faces)]
CollectionId = Annotated[str, Path(pattern=ID_PATTERN, description="Collection id.")]
FaceId = Annotated[str, Path(pattern=ID_PATTERN, description="Face id.")]
Image = Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP, TIFF or GIF.")]


@router.post(
    "/faces",
    status_code=201,
    summary="Index the faces of an image (consent reference required by the default policy).",
    response_model=IndexFacesResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **IMAGE_ERRORS},
)
def index_faces(
    collection_id: CollectionId,
    image: Image,
    ctx: Principal,
    svc: Service,
    consent: Annotated[
        str | None,
        Form(max_length=200, description="Reference of the recorded consent for this face."),
    ] = None,
    external_image_id: Annotated[str | None, Form(max_length=255)] = None,
    max_faces: Annotated[int, Form(ge=1, le=100)] = 100,
    quality_filter: Annotated[QualityFilter, Form()] = QualityFilter.LOW,
    age_band: Annotated[
        AgeBand | None,
        Form(
            description="The person's age band as the operator declares it (never inferred), "
            "kept with the face."
        ),
    ] = None,
) -> dict[str, Any]:
    g = svc.index_faces(
        ctx, collection_id, read_upload(image), external_image_id=external_image_id,
        max_faces=max_faces, quality_filter=quality_filter, consent=consent, age_band=age_band,
    )  # fmt: skip
    return with_decision(g, g.result.to_dict())


@router.get("/faces", response_model=FaceList, responses={**COMMON_ERRORS, **NOT_FOUND})
def list_faces(
    collection_id: CollectionId,
    ctx: Principal,
    svc: Service,
    limit: Limit = 100,
    next_token: NextToken = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> dict[str, Any]:
    g = svc.list_faces(ctx, collection_id, limit=limit, next_token=next_token, user_id=user_id)
    page = g.result
    return with_decision(
        g, {"faces": [f.to_dict() for f in page.items], "next_token": page.next_token}
    )


@router.delete(
    "/faces/{face_id}", response_model=DeletedFaces, responses={**COMMON_ERRORS, **NOT_FOUND}
)
def delete_face(
    collection_id: CollectionId, face_id: FaceId, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.delete_faces(ctx, collection_id, [face_id], must_exist=True)
    return with_decision(g, {"deleted_faces": g.result})


@router.post(
    "/search",
    summary="1:N search with the largest face of an image (or every face).",
    response_model=FaceSearchResponse,
    responses={**PENDING, **COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **IMAGE_ERRORS},
)
def search_by_image(
    collection_id: CollectionId,
    image: Image,
    ctx: Principal,
    svc: Service,
    threshold: Annotated[float, Form(ge=0, lt=100)] = DEFAULT_SEARCH_THRESHOLD,
    max_results: Annotated[int, Form(ge=1, le=4096)] = 10,
    all_faces: Annotated[bool, Form()] = False,
    approximate: Annotated[bool, Form(description=APPROXIMATE_HELP)] = False,
    age_band: Annotated[AgeBand | None, Form(description=AGE_BAND_HELP)] = None,
) -> dict[str, Any]:
    g = svc.search_faces_by_image(
        ctx, collection_id, read_upload(image), threshold=threshold,
        max_results=max_results, all_faces=all_faces, approximate=approximate,
        age_band=age_band,
    )  # fmt: skip
    return with_decision(g, {"status": "ok", **g.result.to_dict()})


@router.post(
    "/faces/{face_id}/search",
    summary="1:N search with a stored face (itself excluded).",
    response_model=FaceSearchResponse,
    responses={**PENDING, **COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def search_by_face(
    collection_id: CollectionId,
    face_id: FaceId,
    ctx: Principal,
    svc: Service,
    options: SearchOptions | None = None,
) -> dict[str, Any]:
    options = options or SearchOptions()
    g = svc.search_faces(
        ctx, collection_id, face_id, threshold=options.threshold,
        max_results=options.max_results, approximate=options.approximate,
        age_band=options.age_band,
    )  # fmt: skip
    return with_decision(g, {"status": "ok", **g.result.to_dict()})


@router.get(
    "/faces/{face_id}/crop",
    summary="The crop of an enrolled face, where its collection keeps crops (recorded).",
    response_model=Crop,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def face_crop(
    collection_id: CollectionId, face_id: FaceId, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.face_crop(ctx, collection_id, face_id)
    return crop_body(g, face_id=face_id)
