"""Users: groups of faces of one person, searchable as one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models import (
    AssociateFacesResponse,
    DeletedUser,
    DisassociateFacesResponse,
    UserList,
    UserResponse,
    UserSearchResponse,
)
from faceledger.api.routes.common import (
    AGE_BAND_HELP,
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    IMAGE_ERRORS,
    NOT_FOUND,
    PENDING,
    TOO_LARGE,
    AgeBand,
    Body,
    Limit,
    NextToken,
    faces,
    read_upload,
    with_decision,
)
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import DEFAULT_USER_AGGREGATION, FaceService

router = APIRouter(prefix="/v1/collections/{collection_id}/users", tags=["users"])
Service = Annotated[FaceService, Depends(faces)]
CollectionId = Annotated[str, Path(pattern=ID_PATTERN, description="Collection id.")]
UserId = Annotated[str, Path(pattern=ID_PATTERN, description="User id.")]


class NewUser(Body):
    user_id: str = Field(pattern=ID_PATTERN)


class FaceIds(Body):
    face_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(min_length=1, max_length=100)


@router.post(
    "",
    status_code=201,
    response_model=UserResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def create_user(
    collection_id: CollectionId, body: NewUser, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.create_user(ctx, collection_id, body.user_id)
    return with_decision(g, {"user": g.result.to_dict()})


@router.get("", response_model=UserList, responses={**COMMON_ERRORS, **NOT_FOUND})
def list_users(
    collection_id: CollectionId,
    ctx: Principal,
    svc: Service,
    limit: Limit = 100,
    next_token: NextToken = None,
) -> dict[str, Any]:
    g = svc.list_users(ctx, collection_id, limit=limit, next_token=next_token)
    page = g.result
    return with_decision(
        g, {"users": [u.to_dict() for u in page.items], "next_token": page.next_token}
    )


@router.delete("/{user_id}", response_model=DeletedUser, responses={**COMMON_ERRORS, **NOT_FOUND})
def delete_user(
    collection_id: CollectionId, user_id: UserId, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.delete_user(ctx, collection_id, user_id)
    return with_decision(g, {"deleted": g.result.to_dict()})


@router.post(
    "/{user_id}/associate",
    response_model=AssociateFacesResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def associate_faces(
    collection_id: CollectionId, user_id: UserId, body: FaceIds, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.associate_faces(ctx, collection_id, user_id, body.face_ids)
    return with_decision(g, g.result.to_dict("associated"))


@router.post(
    "/{user_id}/disassociate",
    response_model=DisassociateFacesResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **TOO_LARGE},
)
def disassociate_faces(
    collection_id: CollectionId, user_id: UserId, body: FaceIds, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.disassociate_faces(ctx, collection_id, user_id, body.face_ids)
    return with_decision(g, g.result.to_dict("disassociated"))


@router.post(
    "/search",
    summary="Users matching the largest face of an image, or a stored face (give one).",
    response_model=UserSearchResponse,
    responses={**PENDING, **COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **IMAGE_ERRORS},
)
def search_users(
    collection_id: CollectionId,
    ctx: Principal,
    svc: Service,
    image: Annotated[UploadFile | None, File(description="Search with this image.")] = None,
    face_id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None,
    threshold: Annotated[float, Form(ge=0, lt=100)] = DEFAULT_SEARCH_THRESHOLD,
    max_users: Annotated[int, Form(ge=1, le=4096)] = 10,
    aggregation: Annotated[str, Form(pattern="^(max|centroid|top2-mean)$")] = (
        DEFAULT_USER_AGGREGATION
    ),
    age_band: Annotated[AgeBand | None, Form(description=AGE_BAND_HELP)] = None,
) -> dict[str, Any]:
    data = read_upload(image) if image is not None else None
    g = svc.search_users(
        ctx, collection_id, face_id=face_id, image=data, threshold=threshold,
        max_users=max_users, aggregation=aggregation, age_band=age_band,
    )  # fmt: skip
    return with_decision(g, {"status": "ok", **g.result.to_dict()})
