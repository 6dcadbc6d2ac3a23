"""The governed HTTP service: ``create_app(data_dir)`` → a FastAPI app (OpenAPI at /docs).

It is a thin front end over the same service layer as the CLI: ``FaceService`` (collections,
faces, search, users, compare, detect) and ``GovernanceService`` (leads, reviews, audit log),
both behind the data folder's ``GovernedGate`` (policy, review queue, rate limits, audit log).
No route touches the store, the review queue or the audit log directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceledger import __version__
from faceledger.api import docs, errors, rekognition
from faceledger.api.deps import AmbiguousCredentialsError, presented_key
from faceledger.api.routes import ROUTERS
from faceledger.api.unauthenticated import UnauthenticatedLog
from faceledger.engine import Engine
from faceledger.errors import FaceledgerError
from faceledger.governance.clock import Clock, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.events import HttpRejected
from faceledger.governance.gate import GovernedGate
from faceledger.runtime import Runtime
from faceledger.settings import Settings

DEFAULT_MAX_BODY = 10 * 1024 * 1024
"""Largest request body accepted (bytes); larger is 413 before the body is read."""
DEFAULT_MAX_VIDEO_BODY = 512 * 1024 * 1024
"""Largest body of a video upload (``POST .../video-searches``, ``POST .../shares``)."""

log = logging.getLogger("faceledger.api")

_seen: ContextVar[dict[str, bool] | None] = ContextVar("faceledger_request_seen", default=None)
"""Set by the middleware for each request; the gate marks it when it decides (the object is
shared with the worker thread, so the middleware sees the mark and does not record the request
a second time as ``http.rejected``)."""


class TrackingGate(GovernedGate):
    """GovernedGate that tells the middleware that this request reached a decision."""

    def decide(self, ctx: RequestContext, operation: str, request: dict[str, Any]) -> Decision:
        decision = super().decide(ctx, operation, request)
        seen = _seen.get()
        if seen is not None:
            seen["decided"] = True
        return decision


class RequestGuard:
    """ASGI middleware: a request id for every request (``X-Request-ID``), a body size limit
    (413 from ``Content-Length`` at once, or as soon as a streamed body passes it), and an
    audit record for a request refused before the gate decided anything (invalid parameters,
    body too large, unknown path...), when its API key is valid."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        on_rejected: Callable[[Scope, str, int, str], None] | None = None,
        max_video_body: int | None = None,
        worker_header: bool = False,
    ) -> None:
        self.app = app
        self.worker_header = (b"x-faceledger-worker", str(os.getpid()).encode())
        self.worker_header_on = worker_header
        self.max_body = max_body
        self.max_video_body = max_video_body or max_body
        self.on_rejected = on_rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        seen = {"decided": False}
        token = _seen.set(seen)
        response: dict[str, Any] = {"status": 0, "code": ""}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body" and response["status"] >= 400:
                with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                    response["code"] = (
                        response["code"] or json.loads(message["body"])["error"]["code"]
                    )
            await send(message)

        try:
            await self._serve(scope, receive, tracking_send, rid)
        finally:
            _seen.reset(token)
        if response["status"] >= 400 and not seen["decided"] and self.on_rejected is not None:
            try:
                await anyio.to_thread.run_sync(
                    self.on_rejected, scope, rid, response["status"], response["code"]
                )
            except Exception:  # noqa: BLE001 - the response is gone; keep serving
                log.exception("could not record the rejected request %s", rid)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        started = False
        max_body = self.max_body
        if scope.get("method") == "POST" and str(scope.get("path", "")).endswith(
            ("/video-searches", "/shares")
        ):
            max_body = self.max_video_body

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                if self.worker_header_on:
                    headers.append(self.worker_header)
                message = {**message, "headers": headers}
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > max_body
            except ValueError:
                too_big = False
            if too_big:
                message = f"The request body is larger than {max_body} bytes."
                await _send_error(send_with_id, 413, "payload_too_large", message, rid)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not started:
                message = f"The request body is larger than {max_body} bytes."
                await _send_error(send_with_id, 413, "payload_too_large", message, rid)
        except Exception:  # noqa: BLE001 - the last line of defence: log it, say nothing
            log.exception("internal error in request %s", rid)
            if not started:
                message = "Internal error; it has been logged."
                await _send_error(send_with_id, 500, "internal", message, rid)


async def _send_error(send: Send, status: int, code: str, message: str, rid: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "request_id": rid}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(StarletteHTTPException):
    """Raised by the guarded ``receive``; an HTTPException so that FastAPI's body parsing
    passes it on (as 413) instead of calling it a parse error."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is larger than the server accepts.")


def create_app(
    data_dir: str | os.PathLike[str] | None = None,
    policy_path: str | os.PathLike[str] | None = None,
    engine: Engine | None = None,
    *,
    clock: Clock = utc_now,
    max_body: int = DEFAULT_MAX_BODY,
    max_video_body: int = DEFAULT_MAX_VIDEO_BODY,
    detector: str = "auto",
    model: str | None = None,
    background: Callable[[Runtime], AbstractContextManager[None]] | None = None,
    worker_header: bool = False,
    scoring: str | None = None,
) -> FastAPI:
    """The HTTP app of a data folder.

    ``policy_path``: the policy file (default: ``<data dir>/policy.yaml`` if present, else the
    packaged default policy). ``clock``: time as the policy sees it (tests inject one).
    ``engine``: None builds one from the settings (``detector``; ``model``, a model added with
    ``faceledger model add``, else ``$FACELEDGER_MODEL``, else the shipped network; ``scoring``,
    a scoring fitted by ``faceledger model normalize``, else ``$FACELEDGER_SCORING``, else raw).
    ``background``: work of the server beside the requests (the retention timer, the video
    worker: ``api.serving``), entered when the app starts and left when it stops.
    ``worker_header``: name the serving process in every response (``X-Faceledger-Worker``).
    """
    settings = Settings.resolve(
        data_dir,
        policy_path=policy_path,
        clock=clock,
        detector=detector,
        model=model,
        scoring=scoring,
    )
    runtime = Runtime.open(settings, engine=engine, gate_class=TrackingGate, serialize_engine=True)
    unauthenticated = UnauthenticatedLog(runtime.auditlog, clock)

    def close() -> None:
        """Close the databases (for embedders and tests; a server just exits), after writing
        the count of failed authentications not yet written. Not done at lifespan shutdown:
        ASGI hosts and test clients may run the lifespan more than once."""
        unauthenticated.flush(force=True)
        runtime.close()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with background(runtime) if background is not None else contextlib.nullcontext():
            yield
        # the count of failed authentications not yet written (nothing if there are none)
        await anyio.to_thread.run_sync(lambda: unauthenticated.flush(force=True))

    app = FastAPI(
        title="faceledger",
        version=__version__,
        summary="Governed face recognition: every request decided by policy and audit-logged.",
        description=_DESCRIPTION,
        docs_url=None,  # served by api.docs, without a CDN
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.data_dir = settings.data_dir
    app.state.runtime = runtime
    app.state.faces = runtime.faces
    app.state.governance = runtime.governance
    app.state.admin = runtime.admin
    app.state.principals = runtime.principals
    app.state.gate = runtime.gate
    app.state.auditlog = runtime.auditlog
    app.state.policy = runtime.policy
    app.state.unauthenticated = unauthenticated
    app.state.close = close
    errors.install(app)
    docs.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # the web console under /console (same services, same audit log); imported here because
    # the console builds on this package's helpers (deps, errors), not the other way round
    from faceledger.console import install as install_console

    install_console(app)
    principals = runtime.principals
    auditlog = runtime.auditlog

    def record_rejected(scope: Scope, rid: str, status: int, code: str) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        try:
            key = presented_key(headers)
        except AmbiguousCredentialsError:
            return  # two keys: which one asked is not known, so attribute it to neither
        if not key:
            return
        try:
            ctx = principals.authenticate(key, request_id=rid)
        except FaceledgerError:
            return  # not a principal: nothing to attribute (the server's access log has it)
        auditlog.append(
            HttpRejected(
                ctx=ctx,
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                code=code,
            )
        )

    app.add_middleware(
        RequestGuard, max_body=max_body, on_rejected=record_rejected,
        max_video_body=max_video_body, worker_header=worker_header,
    )  # fmt: skip
    rekognition.install(app, max_body=max_body)  # POST / (JSON 1.1 + SigV4); after the guard
    return app


_DESCRIPTION = """
Every request is authenticated with an API key (`Authorization: Bearer flk_...` or
`X-API-Key`), declares its purpose and case in headers (`X-Purpose`, `X-Case-Ref`, and where
the policy asks, `X-Authorization-Ref` and `X-Authorization-Date`), is decided by the policy
and written to the tamper-evident audit log, allowed or denied. Responses carry the decision
(`decision.rule`, `decision.reason`); refusals are `403 policy_denied` with the rule.

Where the policy requires human review, a search answers `202` with a pending lead instead of
results; two reviewers of the organization confirm it (`POST /v1/leads/{id}/confirm`) before
the requester can read the results (`GET /v1/leads/{id}`).

Errors: `{"error": {"code", "message", "rule"?, "request_id"}}` with a stable `code`.
"""
