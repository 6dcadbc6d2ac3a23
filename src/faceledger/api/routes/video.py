"""Video searches: submit stored footage (an asynchronous job), read its status and results,
cancel it. The whole job is one governed request (``video.search``), decided at submission."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from faceledger.api.deps import Principal
from faceledger.api.models_video import VideoSearchJob
from faceledger.api.routes.common import (
    APPROXIMATE_HELP,
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    NextToken,
    _error,
    faces,
    with_decision,
)
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import FaceService
from faceledger.service.video import MAX_PERSONS_PAGE, VideoSearchPage

router = APIRouter(prefix="/v1", tags=["video"])
Service = Annotated[FaceService, Depends(faces)]
CollectionId = Annotated[str, Path(pattern=ID_PATTERN, description="Collection id.")]
JobId = Annotated[str, Path(pattern=r"^vid_[0-9a-f]{16}$", description="Video search job id.")]
VIDEO_ERRORS = {
    413: _error("Body, video file, duration, resolution, frame count or bit rate too large."),
    415: _error("Not a video this server reads (MP4, MOV, MKV or WebM)."),
}


@router.post(
    "/collections/{collection_id}/video-searches",
    status_code=202,
    summary="Search stored footage for the collection's faces (an asynchronous job).",
    response_model=VideoSearchJob,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **VIDEO_ERRORS},
)
def start_video_search(
    collection_id: CollectionId,
    video: Annotated[UploadFile, File(description="MP4, MOV, MKV or WebM.")],
    ctx: Principal,
    svc: Service,
    threshold: Annotated[float, Form(ge=0, lt=100)] = DEFAULT_SEARCH_THRESHOLD,
    max_results: Annotated[int, Form(ge=1, le=4096)] = 10,
    sample_fps: Annotated[
        float, Form(ge=0.1, le=30, description="Frames sampled per second of footage.")
    ] = 2.0,
    min_face_size: Annotated[
        int, Form(ge=20, le=1000, description="Smallest face looked for, pixels.")
    ] = 40,
    approximate: Annotated[bool, Form(description=APPROXIMATE_HELP)] = False,
) -> dict[str, Any]:
    g = svc.start_video_search(
        ctx, collection_id, video.file, threshold=threshold, max_results=max_results,
        sample_fps=sample_fps, min_face_size=min_face_size, approximate=approximate,
    )  # fmt: skip
    return with_decision(g, VideoSearchPage(g.result, None, None).to_dict())


@router.get(
    "/video-searches/{job_id}",
    summary="A video search: status, progress, and once it succeeded a page of its results.",
    response_model=VideoSearchJob,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def get_video_search(
    job_id: JobId,
    ctx: Principal,
    svc: Service,
    limit: Annotated[int, Query(ge=1, le=MAX_PERSONS_PAGE, description="Page size.")] = 100,
    next_token: NextToken = None,
) -> dict[str, Any]:
    g = svc.get_video_search(ctx, job_id, limit=limit, next_token=next_token)
    return with_decision(g, g.result.to_dict())


@router.delete(
    "/video-searches/{job_id}",
    summary="Cancel a queued or running video search; its footage is deleted.",
    response_model=VideoSearchJob,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT},
)
def cancel_video_search(job_id: JobId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.cancel_video_search(ctx, job_id)
    return with_decision(g, VideoSearchPage(g.result, None, None).to_dict())
