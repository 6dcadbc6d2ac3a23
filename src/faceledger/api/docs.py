"""The interactive documentation (``/docs``), served whole by the app: it works offline.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it is blank without Internet
access (or behind a strict proxy), and it tells a third party who reads the documentation. The
page here loads the same Swagger UI from ``/docs/assets``, files shipped by the
``fastapi-offline`` package (Swagger UI under its Apache-2.0 licence; the package is MIT), and
names no other host.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI, docs_url: str = "/docs") -> None:
    """Serve ``docs_url`` and its assets (the app is created with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no spec sent to a validator
        )
