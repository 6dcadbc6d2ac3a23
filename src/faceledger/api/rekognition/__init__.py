"""A Rekognition-compatible front end: code written for the cloud service (boto3, the AWS SDKs,
the AWS CLI) runs against ``faceledger serve`` with only its endpoint and credentials changed,
and every call is governed like any other (policy, review, audit log). See docs/rekognition.md.

``install(app)`` mounts ``POST /`` (the JSON 1.1 protocol; /v1 is untouched) and a guard that
answers an oversized Rekognition request in Rekognition's error format.
"""

from __future__ import annotations

import json
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from faceledger.api.rekognition.protocol import CONTENT_TYPE, router
from faceledger.governance.sigv4keys import SigV4Keys

__all__ = ["install", "router"]


def install(app: FastAPI, *, max_body: int) -> None:
    """Mount the protocol on an app made by ``create_app`` (call it last: its guard must be
    the outermost middleware)."""
    runtime = app.state.runtime
    app.state.sigv4_keys = SigV4Keys(
        runtime.db, runtime.settings.data_dir, clock=runtime.settings.clock
    )
    app.include_router(router)
    app.add_middleware(_BodyLimit, max_body=max_body)


class _BodyLimit:
    """A Rekognition request (``X-Amz-Target``) over the server's body limit gets
    ``ImageTooLargeException`` in Rekognition's format instead of the /v1 error."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            length = headers.get(b"content-length", b"")
            if b"x-amz-target" in headers and length.isdigit() and int(length) > self.max_body:
                rid = uuid.uuid4().hex
                body = json.dumps(
                    {
                        "__type": "ImageTooLargeException",
                        "Message": f"The request body is larger than this server accepts "
                        f"({self.max_body:,} bytes; faceledger serve --max-body-mb).",
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", CONTENT_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-amzn-requestid", rid.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
