"""What the route modules share: the services, parameter types, documented responses."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

from fastapi import Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from faceledger.api.errors import decision_dict
from faceledger.api.models import ErrorBody, PendingLead
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService
from faceledger.service.unit import Governed
from faceledger.validation import ID_PATTERN  # noqa: F401 - one id rule for API, CLI and store


def faces(request: Request) -> FaceService:
    return request.app.state.faces


def governance(request: Request) -> GovernanceService:
    return request.app.state.governance


def with_decision(governed: Governed[Any], body: dict[str, Any]) -> dict[str, Any]:
    """A response body with the decision that allowed it."""
    return {**body, "decision": decision_dict(governed.decision)}


def crop_body(
    governed: Governed[bytes], *, lead_id: str | None = None, face_id: str | None = None,
    probe: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The JSON body of a crop (the JPEG in base64) with its decision."""
    data = governed.result
    body = {
        "lead_id": lead_id, "face_id": face_id, "probe": probe, "content_type": "image/jpeg",
        "sha256": hashlib.sha256(data).hexdigest(),
        "image_base64": base64.b64encode(data).decode("ascii"),
    }  # fmt: skip
    return with_decision(governed, {k: v for k, v in body.items() if v is not None})


def read_upload(upload: UploadFile) -> bytes:
    return upload.file.read()


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request: a body that is not valid JSON or multipart, or two API keys."),
    401: _error("No valid API key."),
    403: _error("Refused: role or policy (`rule` names the policy rule)."),
    422: _error("Invalid parameters."),
    429: _error("Rate limit of the policy reached (`Retry-After`)."),
}
NOT_FOUND = {404: _error("No such object in your organization.")}
CONFLICT = {409: _error("Exists already, or not in a state that allows this.")}
TOO_LARGE = {413: _error("Body larger than the server accepts.")}
IMAGE_ERRORS = {
    413: _error("Body or image too large."),
    415: _error("Not an image (JPEG, PNG, WebP, BMP, TIFF or GIF)."),
}
PENDING: dict[int | str, dict[str, Any]] = {
    202: {
        "model": PendingLead,
        "description": "Held for human review: a pending lead instead of results.",
    }
}

Limit = Annotated[int, Query(ge=1, le=4096, description="Page size.")]
NextToken = Annotated[
    str | None, Query(max_length=512, description="Token of the next page, from a listing.")
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


APPROXIMATE_HELP = (
    "Opt in to the approximate index: faster on very large collections, may miss a match"
    " (recall measured in docs/store.md); returned distances stay exact."
)


AgeBand = Literal["0-4", "5-11", "12-17", "adult"]
AGE_BAND_HELP = (
    "The probe's age band as the operator declares it (never inferred from the image); the "
    "policy may refuse or hold a search of a child."
)


class SearchOptions(Body):
    threshold: float = Field(
        DEFAULT_SEARCH_THRESHOLD, ge=0, lt=100, description="Similarity (0-100) a match must reach."
    )
    max_results: int = Field(10, ge=1, le=4096)
    approximate: bool = Field(False, description=APPROXIMATE_HELP)
    age_band: AgeBand | None = Field(None, description=AGE_BAND_HELP)
