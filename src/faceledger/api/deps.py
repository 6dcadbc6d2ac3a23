"""Who is asking, and why: the request context of every governed endpoint.

Credentials: ``Authorization: Bearer flk_...`` or ``X-API-Key: flk_...``, one key per request:
a request with two ``Authorization`` headers, two ``X-API-Key`` headers, or both headers with
different keys is refused (400 ``ambiguous_credentials``) and attributed to no one.

What the request declares travels in headers, on every endpoint alike (so that the same
declaration works for JSON and for image uploads):

- ``X-Purpose``: one of the policy's purposes (``missing-person``, ``child-protection``, ...);
- ``X-Case-Ref``: the case reference;
- ``X-Authorization-Ref``: the warrant or court order number, where the policy asks for one;
- ``X-Authorization-Date``: its date, ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from faceledger.errors import FaceledgerError
from faceledger.governance.context import RequestContext
from faceledger.governance.errors import AuthError, InvalidArgumentError
from faceledger.governance.events import Unauthenticated
from faceledger.validation import MAX_REFERENCE, clean_text

_bearer = HTTPBearer(auto_error=False, description="An API key: `Bearer flk_<id>_<secret>`.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DECLARATION = MAX_REFERENCE


class AmbiguousCredentialsError(FaceledgerError):
    """A request that presents more than one API key: which one is asking is not known."""

    code = "ambiguous_credentials"


def presented_key(headers: Iterable[tuple[str, str]]) -> str | None:
    """The one API key a request presents (``headers``: every header, names in any case, in
    the order received), or None; :class:`AmbiguousCredentialsError` if it presents two."""
    authorization, api_keys = [], []
    for name, value in headers:
        if name.lower() == "authorization":
            authorization.append(value)
        elif name.lower() == "x-api-key":
            api_keys.append(value.strip())
    if len(authorization) > 1 or len(api_keys) > 1:
        raise AmbiguousCredentialsError(
            "send one API key, in one Authorization or X-API-Key header: this request has several"
        )
    bearer = None
    if authorization:
        scheme, _, credentials = authorization[0].strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            bearer = credentials.strip()
    api_key = api_keys[0] if api_keys and api_keys[0] else None
    if bearer and api_key and bearer != api_key:
        raise AmbiguousCredentialsError(
            "send one API key: the Authorization and X-API-Key headers of this request differ"
        )
    return bearer or api_key


def _declared(value: str | None, name: str) -> str | None:
    """Trimmed; blank is not declared; control or invisible characters refused (validation)."""
    return clean_text(value, name, MAX_DECLARATION, blank="none", error=InvalidArgumentError)


def _auth_date(value: str | None) -> date | None:
    value = _declared(value, "X-Authorization-Date")
    if value is None:
        return None
    if not _DATE.match(value):
        raise InvalidArgumentError("X-Authorization-Date must be a date, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgumentError(f"X-Authorization-Date {value!r} is not a date") from None


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
    x_purpose: Annotated[
        str | None, Header(description="Declared purpose, one the policy knows.")
    ] = None,
    x_case_ref: Annotated[str | None, Header(description="Case reference.")] = None,
    x_authorization_ref: Annotated[
        str | None, Header(description="Warrant or court order number.")
    ] = None,
    x_authorization_date: Annotated[
        str | None, Header(description="Date of the authorization, YYYY-MM-DD.")
    ] = None,
) -> RequestContext:
    """The authenticated account and what this request declares; 401 without a valid key."""
    del bearer, api_key  # declared for the OpenAPI security schemes; the key is read below
    try:
        key = presented_key(request.headers.items())
    except AmbiguousCredentialsError as exc:
        _record_failed_key(request, None, exc)
        raise
    if not key:
        raise AuthError("an API key is required: 'Authorization: Bearer <key>' or 'X-API-Key'")
    try:
        ctx = request.app.state.principals.authenticate(key, request_id=request.state.request_id)
    except AuthError as exc:
        _record_failed_key(request, key, exc)
        raise
    request.app.state.unauthenticated.flush()  # the summary of a closed window, if any
    return replace(
        ctx,
        purpose=_declared(x_purpose, "X-Purpose"),
        case_ref=_declared(x_case_ref, "X-Case-Ref"),
        authorization_ref=_declared(x_authorization_ref, "X-Authorization-Ref"),
        authorization_date=_auth_date(x_authorization_date),
    )


Principal = Annotated[RequestContext, Depends(principal)]

_KEY_ID = re.compile(r"^flk_([0-9a-f]{16})_")


def _record_failed_key(request: Request, key: str | None, exc: FaceledgerError) -> None:
    """A presented key that does not authenticate (unknown, revoked, forged), or several keys
    at once (``key`` None), is an access attempt worth keeping: one audit record with no
    tenant (host auditors see it through ``faceledger audit-log export``), the key id if the
    key has one, never the secret; past a few per client and window they are only counted,
    in one summary record (see ``faceledger.api.unauthenticated``). Requests without any key
    are left to the server's access log."""
    match = _KEY_ID.match(key) if key else None
    key_id = match.group(1) if match else None
    client = request.client.host if request.client else None
    request.app.state.unauthenticated.record(
        Unauthenticated(
            request_id=request.state.request_id,
            method=request.method,
            path=request.url.path,
            key_id=key_id,
            reason=str(exc),
            code=exc.code,
            extra={"client": client},
        ),
        client=client,
        key_id=key_id,
    )
