"""AWS Signature Version 4 verification, implemented from the published algorithm.

The client signs a *canonical request* (method, URI, query, the headers it lists in
``SignedHeaders`` with their values trimmed, and the SHA-256 of the body) with a key derived
from its secret by HMAC-SHA256 over the date, region, service and ``aws4_request``. The server
rebuilds the canonical request from the bytes it received, recomputes the signature with the
secret it keeps (encrypted, see ``governance.sigv4keys``) and compares in constant time. Any
change to the body, a signed header, the path or the query changes the signature.

Beyond the signature: the date must be within ``SKEW`` (5 minutes) of the server's clock, the
credential scope must name service ``rekognition`` and the date of the request, ``host``,
``x-amz-date`` (when used), ``x-amz-target`` and every ``x-faceledger-*`` header must be signed,
and (checked by the caller once everything else holds) a signature is accepted once only.
Failures raise :class:`SigV4Error` carrying the error type botocore knows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from faceledger.governance.sigv4keys import Credential

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "rekognition"
SKEW = timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MUST_SIGN = ("host", "x-amz-target")
MUST_SIGN_PREFIXES = ("x-amz-", "x-faceledger-")

BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."


class SigV4Error(Exception):
    """A request that does not authenticate: ``type`` is the ``__type`` botocore reads."""

    def __init__(self, type_: str, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    raw_path: str
    """As received, percent-encoded."""
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_authorization(value: str) -> Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Error(
            "IncompleteSignatureException",
            f"Authorization header must use {ALGORITHM} (got {algorithm[:40]!r}).",
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            parts[name.strip()] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise SigV4Error(
            "IncompleteSignatureException",
            f"Authorization header requires {', '.join(map(repr, missing))} parameter(s).",
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        raise SigV4Error(
            "IncompleteSignatureException",
            "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request.",
        )
    auth = Authorization(
        access_key_id=scope[0], date=scope[1], region=scope[2], service=scope[3],
        signed_headers=tuple(parts["SignedHeaders"].split(";")),
        signature=parts["Signature"].lower(),
    )  # fmt: skip
    if not _HEX64.match(auth.signature):
        raise SigV4Error("IncompleteSignatureException", "Signature must be 64 hex digits.")
    return auth


def _headers(request: SignedRequest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in request.headers:
        out.setdefault(name.lower(), []).append(value)
    return out


def request_time(headers: dict[str, list[str]]) -> tuple[datetime, str]:
    """The signed time and its ``x-amz-date`` text (``Date`` when there is no x-amz-date)."""
    if "x-amz-date" in headers:
        text = headers["x-amz-date"][0].strip()
        try:
            return datetime.strptime(text, AMZ_DATE).replace(tzinfo=UTC), text
        except ValueError:
            pass
    elif "date" in headers:
        try:
            moment = parsedate_to_datetime(headers["date"][0]).astimezone(UTC)
            return moment, moment.strftime(AMZ_DATE)
        except (TypeError, ValueError):
            pass
    raise SigV4Error(
        "IncompleteSignatureException",
        "Authorization requires a valid 'X-Amz-Date' header (YYYYMMDDTHHMMSSZ) or 'Date'.",
    )


def canonical_request(request: SignedRequest, signed: Sequence[str], payload_hash: str) -> str:
    headers = _headers(request)
    lines = []
    for name in signed:
        values = headers.get(name)
        if values is None:
            raise SigV4Error(
                "IncompleteSignatureException", f"Signed header {name!r} is not in the request."
            )
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query(request.raw_query),
            "".join(lines),
            ";".join(signed),
            payload_hash,
        ]
    )


def canonical_uri(raw_path: str) -> str:
    """The path with dot segments removed, each character outside ``A-Za-z0-9-_.~/``
    percent-encoded (a path already encoded is encoded again, as botocore does)."""
    segments: list[str] = []
    for segment in (raw_path or "/").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and path != "/":
        path += "/"
    return quote(path, safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(
    request: SignedRequest,
    find: Callable[[str], Credential | None],
    now: datetime,
    *,
    regions: Sequence[str] | None = None,
) -> tuple[Credential, Authorization]:
    """The credential that signed ``request``, or :class:`SigV4Error`. Replays are the
    caller's to refuse (it records the signature once the request is otherwise valid)."""
    headers = _headers(request)
    values = headers.get("authorization", [])
    if not values:
        raise SigV4Error("MissingAuthenticationTokenException", "Missing Authentication Token")
    if len(values) > 1:
        raise SigV4Error("IncompleteSignatureException", "More than one Authorization header.")
    auth = parse_authorization(values[0])
    key_id = auth.access_key_id
    signed = auth.signed_headers
    if list(signed) != sorted(set(signed)) or any(n != n.lower() for n in signed):
        raise SigV4Error(
            "IncompleteSignatureException",
            "SignedHeaders must be lowercase, sorted and without duplicates.", key_id=key_id,
        )  # fmt: skip
    must = {"host"} | {n for n in headers if n in MUST_SIGN or n.startswith(MUST_SIGN_PREFIXES)}
    unsigned = sorted(must - set(signed))
    if unsigned:
        raise SigV4Error(
            "IncompleteSignatureException",
            f"These headers must be signed: {', '.join(unsigned)}.", key_id=key_id,
        )  # fmt: skip
    moment, amz_date = request_time(headers)
    if auth.service != SERVICE:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'.", key_id=key_id,
        )  # fmt: skip
    if not _REGION.match(auth.region) or (regions and auth.region not in regions):
        raise SigV4Error(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{auth.region[:64]}'.",
            key_id=key_id,
        )
    if auth.date != amz_date[:8]:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date[:16]}' != '{amz_date[:8]}', from '{amz_date}'.",
            key_id=key_id,
        )
    credential = find(key_id)
    if credential is None or credential.revoked_at is not None:
        raise SigV4Error("UnrecognizedClientException", UNKNOWN_KEY, key_id=key_id)
    if moment < now - SKEW:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} - 5 min.)",
            key_id=key_id,
        )
    if moment > now + SKEW:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + 5 min.)",
            key_id=key_id,
        )
    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = headers.get("x-amz-content-sha256", [body_hash])[0].strip().lower()
    if declared != body_hash:
        raise SigV4Error(
            "InvalidSignatureException",
            "The body does not match X-Amz-Content-SHA256 (unsigned payloads are refused).",
            key_id=key_id,
        )
    canonical = canonical_request(request, signed, body_hash)
    to_sign = "\n".join(
        [ALGORITHM, amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(credential.secret, auth.date, auth.region, auth.service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth.signature):
        raise SigV4Error("InvalidSignatureException", BAD_SIGNATURE, key_id=key_id)
    if credential.expired(now):
        raise SigV4Error(
            "ExpiredTokenException",
            "The security token included in the request is expired "
            f"(the credential expired at {credential.binding.expires_at:%Y-%m-%dT%H:%M:%SZ}).",
            key_id=key_id,
        )
    return credential, auth
