"""Independent testing: ``POST /v1/evaluations`` (operation ``evaluation.run``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from faceledger.api.deps import Principal
from faceledger.api.models_evaluation import EvaluationResponse
from faceledger.api.routes.common import COMMON_ERRORS, TOO_LARGE, faces, with_decision
from faceledger.errors import InvalidRequestError
from faceledger.evaluation.upload import MAX_ARCHIVE, MAX_IMAGES
from faceledger.service.faces import FaceService

router = APIRouter(prefix="/v1", tags=["independent testing"])
Service = Annotated[FaceService, Depends(faces)]


@router.post(
    "/evaluations",
    summary="Measure the deployed model on your own set: 1:1 FMR/FNMR or 1:N FNIR/FPIR per "
    "declared group, with 95 % confidence intervals. Nothing uploaded is kept.",
    description=(
        "For accounts of an `independent-tester` organization. `archive` is a zip holding "
        "`manifest.csv` (columns `path`, `subject`, your group columns, and for "
        "`identification` a `role` column: `gallery` or `probe`) and the images it names. "
        f"At most {MAX_IMAGES} images and {MAX_ARCHIVE // (1024 * 1024)} MiB. `thresholds`: "
        "comma-separated similarities (default: the deployment's own). The archive, images and "
        "embeddings are discarded when the response is sent; the audit log keeps counts and "
        "SHA-256s only."
    ),
    response_model=EvaluationResponse,
    responses={**COMMON_ERRORS, **TOO_LARGE},
)
def evaluate(
    archive: Annotated[UploadFile, File(description="The set: a zip archive.")],
    ctx: Principal,
    svc: Service,
    mode: Annotated[str, Form(pattern="^(verification|identification)$")] = "verification",
    thresholds: Annotated[
        str | None, Form(max_length=200, description="e.g. 90,99 (similarities).")
    ] = None,
    bootstrap: Annotated[int, Form(ge=0, le=1000)] = 200,
) -> dict[str, Any]:
    sims = None
    if thresholds:
        try:
            sims = [float(t) for t in thresholds.split(",") if t.strip()]
        except ValueError:
            raise InvalidRequestError(
                "thresholds are comma-separated similarities, e.g. 90,99"
            ) from None
    data = archive.file.read(MAX_ARCHIVE + 1)
    archive.file.close()
    g = svc.evaluate(ctx, data, mode=mode, thresholds=sims, bootstrap=bootstrap)
    return with_decision(g, g.result)
