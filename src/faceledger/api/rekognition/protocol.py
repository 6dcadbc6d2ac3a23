"""The JSON 1.1 protocol: ``POST /`` with ``X-Amz-Target: RekognitionService.<Operation>``.

One request: verify its SigV4 signature (``sigv4``), refuse a replayed signature of a
state-changing operation (a read under a replayed signature is answered and audited as its own
request, with ``replayed``: botocore signs identical calls in one second alike), build the
account's request context with what the credential binds (purpose, case, authorization,
consent) and what ``X-Faceledger-*`` headers add where the credential binds nothing, run the
operation (``operations``: one governed service call), and answer in Rekognition's JSON, or with
``{"__type", "Message"}`` and ``x-amzn-RequestId`` (the audit record's request id).

Auditing follows the /v1 API: a credential that does not authenticate is recorded as
``http.unauthenticated`` (its access key id, never the secret; requests with no credential at all
are left to the access log), through the same limiter (``api.unauthenticated``: past a few per
client address and window, failures are only counted, in one summary record); an
authenticated request refused before any operation was decided (malformed body, unknown
operation, invalid parameter, a header contradicting the credential) as ``http.rejected``;
everything else is recorded by the service's unit of work.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import nullcontext
from dataclasses import replace
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from faceledger.api.rekognition import users  # noqa: F401 - registers the user operations
from faceledger.api.rekognition.operations import Env
from faceledger.api.rekognition.params import OPERATIONS, Params, RekognitionError, check_members
from faceledger.api.rekognition.sigv4 import SKEW, SignedRequest, SigV4Error, verify
from faceledger.errors import FaceledgerError
from faceledger.governance.context import RequestContext
from faceledger.governance.events import HttpRejected, Unauthenticated
from faceledger.governance.sigv4keys import Credential, SecretKeyError, SigV4Keys
from faceledger.service.unit import PolicyDenied, ResultsWithheld, marked
from faceledger.validation import MAX_REFERENCE, clean_text

log = logging.getLogger("faceledger.api.rekognition")

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
REGIONS_ENV = "FACELEDGER_SIGV4_REGIONS"
"""Comma-separated regions a credential scope may name (default: any)."""
HEADERS = {
    "purpose": "x-faceledger-purpose",
    "case_ref": "x-faceledger-case-ref",
    "authorization_ref": "x-faceledger-authorization-ref",
    "authorization_date": "x-faceledger-authorization-date",
    "consent": "x-faceledger-consent",
}
READ_ONLY = frozenset({
    "DescribeCollection", "ListCollections", "ListFaces", "ListUsers", "SearchFaces",
    "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "CompareFaces", "DetectFaces",
    "FaceledgerGetLead",
})  # fmt: skip
"""Operations answered under a replayed signature (each still decided and audited anew): they
change nothing, and the answer reveals nothing the captured exchange did not."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ERROR_TYPES = {
    "not_found": "ResourceNotFoundException",
    "file_not_found": "ResourceNotFoundException",
    "conflict": "ConflictException",
    "invalid_request": "InvalidParameterException",
    "invalid_argument": "InvalidParameterException",
    "validation_error": "InvalidParameterException",
    "model_error": "InvalidParameterException",
    "image_too_large": "ImageTooLargeException",
    "payload_too_large": "ImageTooLargeException",
    "not_an_image": "InvalidImageFormatException",
    "corrupt_image": "InvalidImageFormatException",
    "empty_image": "InvalidImageFormatException",
    "invalid_image": "InvalidImageFormatException",
    "unsupported_input": "InvalidImageFormatException",
    "forbidden": "AccessDeniedException",
    "unauthorized": "AccessDeniedException",
    "rate_limited": "ThrottlingException",
    "idempotency_mismatch": "IdempotentParameterMismatchException",
}

router = APIRouter(include_in_schema=False)


@router.post("/")
async def rekognition(request: Request) -> Response:
    body = await request.body()
    return await run_in_threadpool(handle, request, body)


def handle(request: Request, body: bytes) -> Response:
    rid = getattr(request.state, "request_id", None) or os.urandom(16).hex()
    target = request.headers.get("x-amz-target", "")
    operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
    state = request.app.state
    keys: SigV4Keys = state.sigv4_keys
    try:
        credential, auth = verify(
            SignedRequest(
                request.method, request.scope.get("raw_path", b"/").decode("latin-1"),
                request.scope.get("query_string", b"").decode("latin-1"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
                body,
            ),
            keys.find, state.runtime.settings.clock(), regions=_regions(),
        )  # fmt: skip
        replayed = not keys.remember(auth.signature, window=SKEW)
        if replayed and operation not in READ_ONLY:
            raise SigV4Error(
                "InvalidSignatureException",
                "Replayed request: this signature was accepted already within the last 5 "
                "minutes, and this operation changes state. Retry the call: the client signs "
                "it anew (two identical calls signed in the same second carry one signature).",
                key_id=auth.access_key_id,
            )
    except SigV4Error as exc:
        if exc.type != "MissingAuthenticationTokenException":
            _unauthenticated(request, rid, operation, exc.key_id, exc.message, exc.type)
        return error(rid, exc.type, exc.message)
    except SecretKeyError as exc:
        log.error("SigV4 credentials cannot be opened: %s", exc)
        _unauthenticated(request, rid, operation, None, "server secret key unavailable", "internal")
        return error(rid, "InternalServerError", "Internal error; it has been logged.", 500)
    state.unauthenticated.flush()  # the summary of a closed window of failures, if any
    ctx: RequestContext | None = None
    try:
        ctx, consent = _context(credential, request, rid)
        if operation not in OPERATIONS:
            raise RekognitionError(
                "UnknownOperationException",
                f"Unknown operation {target[:100]!r}: X-Amz-Target must be "
                f"{TARGET_PREFIX}<Operation>, one of {', '.join(OPERATIONS)}.",
            )
        try:
            payload = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RekognitionError("SerializationException", "The body is not JSON.") from None
        params = Params(payload)
        check_members(operation, params.body)
        env = Env(state.runtime.faces, state.runtime.governance, auth.region, consent)
        with marked(replayed=True) if replayed else nullcontext():
            result = OPERATIONS[operation](ctx, params, env)
    except ResultsWithheld as exc:
        return error(
            rid, "HumanReviewRequiredException",
            f"Results held for human review as lead {exc.lead.id} (policy rule "
            f"{exc.decision.rule}): two reviewers of your organization must confirm it; then "
            f"read it with GET /v1/leads/{exc.lead.id} or {TARGET_PREFIX}FaceledgerGetLead.",
            headers={"x-faceledger-lead-id": exc.lead.id},
        )  # fmt: skip
    except PolicyDenied as exc:
        d = exc.decision
        if d.obligations.get("rate_limited"):
            return error(
                rid, "ThrottlingException", f"Rate limit of policy rule {d.rule}: {d.reason}"
            )
        return error(rid, "AccessDeniedException", f"Denied by policy rule {d.rule}: {d.reason}")
    except RekognitionError as exc:
        _rejected(request, ctx, credential, rid, exc.type)
        return error(rid, exc.type, exc.message, exc.status)
    except FaceledgerError as exc:
        type_ = _error_type(exc, operation)
        _rejected(request, ctx, credential, rid, type_)
        return error(rid, type_, str(exc))
    except Exception:  # noqa: BLE001 - logged, never shown
        log.exception("internal error in Rekognition request %s", rid)
        return error(rid, "InternalServerError", "Internal error; it has been logged.", 500)
    return Response(json.dumps(result), media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": rid})


def error(
    rid: str, type_: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"__type": type_, "Message": message})
    return Response(
        body, status_code=status, media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": rid, "x-amzn-ErrorType": type_, **(headers or {})},
    )  # fmt: skip


def _error_type(exc: FaceledgerError, operation: str) -> str:
    if exc.code == "conflict" and operation == "CreateCollection":
        return "ResourceAlreadyExistsException"
    if exc.code == "invalid_request" and "token" in str(exc).lower():
        return "InvalidPaginationTokenException"
    return ERROR_TYPES.get(exc.code, "InvalidParameterException")


def _regions() -> list[str] | None:
    value = os.environ.get(REGIONS_ENV, "").strip()
    return [r.strip() for r in value.split(",") if r.strip()] or None


def _context(
    credential: Credential, request: Request, rid: str
) -> tuple[RequestContext, str | None]:
    """The credential's context; ``X-Faceledger-*`` headers fill what it does not bind."""
    ctx = credential.context(rid)
    bound = credential.binding
    declared: dict[str, Any] = {}
    for name, header in HEADERS.items():
        text = clean_text(
            request.headers.get(header), header, MAX_REFERENCE, blank="none",
            error=_InvalidHeader,
        )  # fmt: skip
        if text is None:
            continue
        value: Any = text
        if name == "authorization_date":
            if not _DATE.match(text):
                raise RekognitionError("InvalidParameterException", f"{header} must be YYYY-MM-DD")
            try:
                value = date.fromisoformat(text)
            except ValueError:
                raise RekognitionError(
                    "InvalidParameterException", f"{header} {text!r} is not a date"
                ) from None
        held = getattr(bound, name)
        if held is not None and held != value:
            raise RekognitionError(
                "AccessDeniedException",
                f"This credential is bound to {name.replace('_', ' ')} {held!s}; the "
                f"{header} header may not change it.",
            )
        declared[name] = value
    consent = declared.pop("consent", None) or bound.consent
    return replace(ctx, **declared), consent


class _InvalidHeader(FaceledgerError):
    code = "invalid_argument"


def _unauthenticated(
    request: Request, rid: str, operation: str, key_id: str | None, reason: str, code: str
) -> None:
    """One failed authentication, through the limiter the /v1 API uses
    (``api.unauthenticated``): a flood is counted in one summary, not recorded one by one."""
    client = request.client.host if request.client else None
    try:
        request.app.state.unauthenticated.record(
            Unauthenticated(
                request_id=rid, method=request.method, path=request.url.path, key_id=key_id,
                reason=reason, code=code,
                extra={"protocol": "rekognition", "target": operation, "client": client},
            ),
            client=client, key_id=key_id,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - the answer still goes out; the failure is logged
        log.exception("could not record the unauthenticated request %s", rid)


def _rejected(
    request: Request, ctx: RequestContext | None, credential: Credential, rid: str, code: str
) -> None:
    """``http.rejected`` for an authenticated request no operation decided (the service's unit
    of work has recorded the others)."""
    from faceledger.api import app as app_module

    seen = app_module._seen.get()
    if seen is not None and seen.get("decided"):
        return
    try:
        request.app.state.auditlog.append(
            HttpRejected(
                ctx=ctx or credential.context(rid), method=request.method,
                path=request.url.path, status=400, code=code,
            )
        )  # fmt: skip
    except Exception:  # noqa: BLE001
        log.exception("could not record the rejected request %s", rid)
