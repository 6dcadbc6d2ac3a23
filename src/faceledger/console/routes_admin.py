"""Administrators: their organization's accounts, roles and keys (created and shown once,
revoked), and the policy in plain language with each rule's effect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from faceledger.console.web import check_csrf, page, redirect, render, who
from faceledger.governance.operations import ROLES
from faceledger.service.admin import AdminService

router = APIRouter(prefix="/console/admin", include_in_schema=False)
Text = Annotated[str, Form(max_length=200)]


def admin(request: Request) -> AdminService:
    return request.app.state.admin


def _page(request: Request, me, issued=None) -> Response:  # noqa: ANN001
    directory = admin(request).directory(me.ctx).result
    return render(request, "admin.html", me=me, d=directory, roles=ROLES, issued=issued)


@router.get("")
@page
def admin_page(request: Request) -> Response:
    return _page(request, who(request))


@router.post("/accounts")
@page
def create_account(
    request: Request,
    name: Text,
    roles: Annotated[list[str], Form()],
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    admin(request).create_account(me.ctx, name.strip(), roles)
    return redirect("/console/admin")


@router.post("/keys")
@page
def create_key(request: Request, account_id: Text, label: Text = "", csrf: Text = "") -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    issued = admin(request).create_key(me.ctx, account_id, label=label.strip() or None).result
    return _page(request, me, issued=issued)  # the secret is shown on this page only


@router.post("/keys/{key_id}/revoke")
@page
def revoke_key(request: Request, key_id: str, csrf: Text = "") -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    admin(request).revoke_key(me.ctx, key_id)
    return redirect("/console/admin")
