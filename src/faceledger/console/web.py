"""What the console's pages share: templates, the signed-in principal, CSRF, error pages.

Every page calls the same service methods as the HTTP API and the CLI (``FaceService``,
``GovernanceService``), so every request it makes is decided by the policy and recorded in the
audit log like any other; the console adds no door of its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from faceledger.api.deps import _auth_date, _declared
from faceledger.api.errors import STATUS_BY_CODE
from faceledger.console.sessions import COOKIE, Session, SessionStore
from faceledger.errors import FaceledgerError
from faceledger.governance.context import RequestContext
from faceledger.governance.errors import AuthError
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService

HERE = Path(__file__).parent
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.Undefined,
    )
)
"""Every value is HTML-escaped (``autoescape``): a note or an external image id holding markup
is shown as text."""

CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """No live session: the page redirects to the sign-in form."""


class CsrfRefused(Exception):
    """A form came back without this session's CSRF token (or from another origin)."""


@dataclass(slots=True)
class Who:
    """The signed-in principal of one console request, and its session."""

    ctx: RequestContext
    session: Session
    sid: str

    @property
    def roles(self) -> frozenset[str]:
        return self.ctx.roles


def sessions(request: Request) -> SessionStore:
    return request.app.state.console_sessions


def faces(request: Request) -> FaceService:
    return request.app.state.faces


def governance(request: Request) -> GovernanceService:
    return request.app.state.governance


def who(request: Request) -> Who:
    """The signed-in principal (its key authenticated again: a revoked key ends the session)."""
    sid = request.cookies.get(COOKIE)
    store = sessions(request)
    session = store.get(sid)
    if session is None or sid is None:
        raise SignInRequired()
    try:
        ctx = request.app.state.principals.authenticate(
            session.key, request_id=request.state.request_id
        )
    except AuthError:
        store.drop(sid)
        raise SignInRequired() from None
    me = Who(ctx, session, sid)
    request.state.console_me = me
    return me


def check_csrf(request: Request, me: Who, token: str | None) -> None:
    """A form post must carry the session's token and come from this origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(request):
        raise CsrfRefused()
    if not me.session.csrf_ok(token):
        raise CsrfRefused()


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def declared(
    ctx: RequestContext,
    purpose: str | None,
    case_ref: str | None,
    authorization_ref: str | None,
    authorization_date: str | None,
) -> RequestContext:
    """The context with what a form declares (the same checks as the HTTP headers)."""
    return replace(
        ctx,
        purpose=_declared(purpose, "purpose"),
        case_ref=_declared(case_ref, "case reference"),
        authorization_ref=_declared(authorization_ref, "authorization reference"),
        authorization_date=_auth_date(authorization_date),
    )


def render(
    request: Request, name: str, *, me: Who | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"me": me, "csrf": me.session.csrf if me else None, **context},
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, exc: FaceledgerError, me: Who | None) -> HTMLResponse:
    rule = getattr(getattr(exc, "decision", None), "rule", None)
    status = STATUS_BY_CODE.get(exc.code, 400)
    return render(
        request, "error.html", me=me, status=status, code=exc.code, message=str(exc), rule=rule
    )


def page(func: Callable[..., Response]) -> Callable[..., Response]:
    """A console route: no session → the sign-in page; a refused CSRF token → 403; a service
    error → an error page with its code, message and policy rule (the request is recorded in
    the audit log by the service either way)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return func(*args, **kwargs)
        except SignInRequired:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(f"/console/signin?next={quote(target, safe='')}")
        except CsrfRefused:
            return render(
                request, "error.html", status=403, code="csrf_refused",
                message="This form has expired or did not come from this console: reload the "
                "page and submit it again.", rule=None,
            )  # fmt: skip
        except FaceledgerError as exc:
            return error_page(request, exc, getattr(request.state, "console_me", None))

    wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    return wrapper
