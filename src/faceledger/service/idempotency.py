"""Client request tokens: a change made with a token is done once; a retry gets the same result.

Called inside a unit of work's store transaction (``writes=True``), so the change and the
remembered token commit together, and concurrent retries are serialized by the store's write
lock: the second sees the first's token. Each retry is still decided and audit-logged like any
request (its outcome says ``replayed``). See ``store.idempotency``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from faceledger.governance.context import RequestContext
from faceledger.store.base import AssociationResult, FaceStore, InvalidRequestError, UserRecord
from faceledger.store.idempotency import (
    IdempotencyMismatchError,
    IdempotencyStore,
    RememberedRequest,
)

R = TypeVar("R")
TOKEN_KEY = "client_request_token"


def fingerprint(operation: str, request: dict[str, Any]) -> str:
    body = {k: v for k, v in request.items() if k != TOKEN_KEY}
    text = json.dumps({"operation": operation, **body}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def once(
    store: FaceStore,
    ctx: RequestContext,
    operation: str,
    request: dict[str, Any],
    act: Callable[[], R],
    decode: Callable[[dict[str, Any]], R],
) -> tuple[R, bool]:
    """``act()`` unless ``request[TOKEN_KEY]`` was used before: then the remembered result
    (``decode`` of its fields) and True. IdempotencyMismatchError when the token was used for
    another request."""
    token = request.get(TOKEN_KEY)
    if token is None:
        return act(), False
    if not isinstance(store, IdempotencyStore):
        raise InvalidRequestError("this store does not keep client request tokens")
    digest = fingerprint(operation, request)
    seen = store.remembered_request(ctx.tenant_id, token)
    if seen is not None:
        if (seen.operation, seen.fingerprint) != (operation, digest):
            raise IdempotencyMismatchError(
                f"ClientRequestToken {token!r} was used at {seen.created_at} for a request "
                f"with other parameters ({seen.operation}); a retry must repeat it exactly, "
                "a new request needs a new token"
            )
        return decode(json.loads(seen.result)), True
    result = act()
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    remembered = RememberedRequest(
        operation,
        digest,
        json.dumps(dataclasses.asdict(result)),
        now,  # type: ignore[call-overload]
    )
    store.remember_request(ctx.tenant_id, token, request["collection_id"], remembered)
    return result, False


def user_record(d: dict[str, Any]) -> UserRecord:
    return UserRecord(**d)


def association(d: dict[str, Any]) -> AssociationResult:
    return AssociationResult(
        list(d["succeeded"]), [(f, r) for f, r in d["unsuccessful"]], dict(d["similarities"])
    )
