"""1:1 comparison and detection: no store involved, governed all the same."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from faceledger.api.deps import Principal
from faceledger.api.models import CompareResponse, DetectResponse
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    IMAGE_ERRORS,
    PENDING,
    faces,
    read_upload,
    with_decision,
)
from faceledger.engine.similarity import DEFAULT_THRESHOLD
from faceledger.service.faces import FaceService

router = APIRouter(prefix="/v1", tags=["recognition"])
Service = Annotated[FaceService, Depends(faces)]


@router.post(
    "/compare",
    summary="The largest face of `source` against every face of `target`.",
    response_model=CompareResponse,
    responses={**PENDING, **COMMON_ERRORS, **IMAGE_ERRORS},
)
def compare(
    source: Annotated[UploadFile, File()],
    target: Annotated[UploadFile, File()],
    ctx: Principal,
    svc: Service,
    threshold: Annotated[float, Form(ge=0, lt=100)] = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    g = svc.compare(ctx, read_upload(source), read_upload(target), threshold=threshold)
    return with_decision(g, {"status": "ok", **g.result.to_dict()})


@router.post(
    "/detect",
    summary="Faces in an image: box, landmarks, pose, quality.",
    response_model=DetectResponse,
    responses={**COMMON_ERRORS, **IMAGE_ERRORS},
)
def detect(image: Annotated[UploadFile, File()], ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.detect(ctx, read_upload(image))
    return with_decision(g, {"faces": [f.to_dict(embedding=False) for f in g.result]})
