"""The web console under ``/console``: server-rendered pages for reviewers, operators and
auditors over the same service as the HTTP API and the CLI (see ``docs/console.md``)."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from faceledger.console.sessions import DEFAULT_IDLE_SECONDS, SessionStore
from faceledger.console.web import HERE

IDLE_ENV = "FACELEDGER_CONSOLE_IDLE_SECONDS"


def install(app: FastAPI, *, idle_seconds: float | None = None) -> None:
    """Mount the console (pages, and its static files shipped in the package)."""
    from faceledger.console import (
        routes_admin,
        routes_audit,
        routes_footage,
        routes_operator,
        routes_reports,
        routes_review,
    )

    if idle_seconds is None:
        idle_seconds = float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS)
    app.state.console_sessions = SessionStore(app.state.runtime.db, idle_seconds)
    for module in (routes_review, routes_operator, routes_footage, routes_audit, routes_admin,
                   routes_reports):  # fmt: skip
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
