"""One JSON error shape for every failure, and the HTTP status each error code maps to.

``{"error": {"code": "...", "message": "...", "rule": "...", "request_id": "..."}}``: ``code``
is stable (clients branch on it), ``message`` is one sentence a person reads, ``rule`` names the
policy rule behind a refusal. Nothing else leaves the server: no stack traces, no paths of the
server's files, no SQL. Unexpected exceptions become ``500 internal`` and are logged here.
The OpenAPI document describes the body as ``faceledger.api.models.ErrorBody``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceledger.errors import FaceledgerError
from faceledger.governance.decision import Decision
from faceledger.service.faces import PolicyDenied, ResultsWithheld

log = logging.getLogger("faceledger.api")

STATUS_BY_CODE: dict[str, int] = {
    "malformed_request": 400,
    "ambiguous_credentials": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "policy_denied": 403,
    "consent_refused": 403,
    "not_found": 404,
    "file_not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "model_error": 409,
    "payload_too_large": 413,
    "image_too_large": 413,
    "not_an_image": 415,
    "video_too_large": 413,
    "video_too_long": 413,
    "video_resolution_too_high": 413,
    "video_bitrate_too_high": 413,
    "not_a_video": 415,
    "unsupported_video": 415,
    "no_video_stream": 415,
    "corrupt_video": 422,
    "truncated_video": 422,
    "empty_video": 422,
    "wrong_case": 403,
    "request_expired": 409,
    "no_shared_footage": 409,
    "outside_window": 409,
    "unsupported_input": 415,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_request": 422,
    "invalid_evaluation_set": 422,
    "invalid_argument": 422,
    "invalid_image": 422,
    "empty_image": 422,
    "corrupt_image": 422,
    "unreadable": 422,
    "rate_limited": 429,
    "internal": 500,
}
"""Status per error code; a FaceledgerError with a code not listed here is a 400."""


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "-"


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    body["request_id"] = request_id(request)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _faceledger_error(request: Request, exc: FaceledgerError) -> JSONResponse:
    if isinstance(exc, PolicyDenied):
        d = exc.decision
        if d.obligations.get("rate_limited"):
            retry = max(1, round(float(d.obligations.get("retry_after", 1))))
            return error_response(
                request, 429, "rate_limited", d.reason, rule=d.rule,
                headers={"Retry-After": str(retry)},
            )  # fmt: skip
        return error_response(request, 403, "policy_denied", d.reason, rule=d.rule)
    status = STATUS_BY_CODE.get(exc.code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(request, status, exc.code, str(exc), headers=headers)


def _withheld(request: Request, exc: ResultsWithheld) -> JSONResponse:
    """Not an error: 202, the results wait for review as a lead."""
    lead = exc.lead.to_dict()
    lead.pop("results", None)
    d = exc.decision
    return JSONResponse(
        {
            "status": "pending",
            "lead": lead,
            "decision": decision_dict(d),
            "message": str(exc),
            "request_id": request_id(request),
        },
        status_code=202,
    )


def decision_dict(d: Decision) -> dict[str, Any]:
    return d.to_dict()


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(request, 400, "malformed_request", "The body is not valid JSON.")
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in errors[:20]
    ]
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    where = ".".join(first["loc"][1:] or first["loc"])
    return error_response(
        request, 422, "validation_error", f"{where}: {first['message']}", details=details
    )


_HTTP_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = "No such endpoint."
    if exc.status_code == 405:
        message = "Method not allowed on this endpoint."
    return error_response(request, exc.status_code, code, message, headers=exc.headers)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error in request %s", request_id(request), exc_info=exc)
    return error_response(request, 500, "internal", "Internal error; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ResultsWithheld, _withheld)  # type: ignore[arg-type]
    app.add_exception_handler(FaceledgerError, _faceledger_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)
