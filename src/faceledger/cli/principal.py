"""The CLI as a principal: the face commands act as an account, like any HTTP client.

The API key comes from ``--api-key``, else ``$FACELEDGER_API_KEY``, else the key file
``<data dir>/cli-key`` that ``faceledger admin init`` writes for the single-user embedded
default (an organization "local" with one operator account). The purpose, case reference and
authorization are declared per command (``--purpose``, ``--case-ref``, ``--authorization-ref``,
``--authorization-date``, or ``$FACELEDGER_PURPOSE`` and ``$FACELEDGER_CASE_REF``). Every
command then goes through ``FaceService`` with the data folder's ``GovernedGate``: decided by
the policy, recorded in the audit log, results held for review where the policy says so.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from faceledger.governance.context import RequestContext
from faceledger.governance.errors import AuthError, InvalidArgumentError
from faceledger.governance.principals import Principals
from faceledger.runtime import Runtime
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService
from faceledger.settings import Settings, private_dir
from faceledger.settings import data_dir as resolve_data_dir
from faceledger.validation import MAX_REFERENCE, clean_text

API_KEY_ENV = "FACELEDGER_API_KEY"
CLI_KEY_FILE = "cli-key"

ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=API_KEY_ENV,
        help="Act as the account of this API key (default: the key 'admin init' stored).",
        show_default=False,
        show_envvar=True,
    ),
]
PurposeOpt = Annotated[
    str | None,
    typer.Option(
        "--purpose",
        envvar="FACELEDGER_PURPOSE",
        help="Declared purpose (one of the policy's purposes, e.g. missing-person).",
        show_default=False,
    ),
]
CaseRefOpt = Annotated[
    str | None,
    typer.Option(
        "--case-ref", envvar="FACELEDGER_CASE_REF", help="Case reference.", show_default=False
    ),
]
AuthRefOpt = Annotated[
    str | None,
    typer.Option("--authorization-ref", help="Warrant or court order number.", show_default=False),
]
AuthDateOpt = Annotated[
    datetime | None,
    typer.Option(
        "--authorization-date",
        formats=["%Y-%m-%d"],
        help="Date of the authorization (YYYY-MM-DD).",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class Who:
    """What the command line declares about the request."""

    api_key: str | None = None
    purpose: str | None = None
    case_ref: str | None = None
    authorization_ref: str | None = None
    authorization_date: datetime | date | None = None


DECLARED = Who()
"""Default of a ``who`` parameter that :func:`declares_request` fills in from the options."""
F = TypeVar("F", bound=Callable[..., Any])
_WHO_OPTIONS = {
    "api_key": ApiKeyOpt,
    "purpose": PurposeOpt,
    "case_ref": CaseRefOpt,
    "authorization_ref": AuthRefOpt,
    "authorization_date": AuthDateOpt,
}


def declares_request(func: F) -> F:
    """Give a command the options of :class:`Who` in place of its ``who`` parameter.

    The command is written as ``def cmd(..., who: Who = DECLARED, ...)``; the command line sees
    ``--api-key --purpose --case-ref --authorization-ref --authorization-date`` there and the
    command receives them as one ``Who``, so no face command repeats the five options.
    """
    hints = typing.get_type_hints(func, include_extras=True)
    params: list[inspect.Parameter] = []
    for param in inspect.signature(func).parameters.values():
        if param.name == "who":
            params += [
                inspect.Parameter(name, param.kind, default=None, annotation=annotation)
                for name, annotation in _WHO_OPTIONS.items()
            ]
        else:
            params.append(param.replace(annotation=hints.get(param.name, param.annotation)))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        who = Who(**{name: kwargs.pop(name) for name in _WHO_OPTIONS})
        return func(*args, who=who, **kwargs)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def key_file(data_dir: str | os.PathLike[str] | None) -> Path:
    return resolve_data_dir(data_dir) / CLI_KEY_FILE


def write_key_file(data_dir: str | os.PathLike[str] | None, api_key: str) -> Path:
    """Store the CLI's key, readable by its owner only."""
    path = key_file(data_dir)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(api_key + "\n")
    return path


def resolve_key(data_dir: str | os.PathLike[str] | None, api_key: str | None) -> str:
    if api_key:
        return api_key
    path = key_file(data_dir)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    raise AuthError(
        f"no API key: pass --api-key or set ${API_KEY_ENV}, or run 'faceledger admin init' "
        "once to create a local organization whose key the CLI uses"
    )


def _declared(value: str | None, option: str) -> str | None:
    """The same rule as the HTTP headers: trimmed, blank is not declared, printable text."""
    return clean_text(value, option, MAX_REFERENCE, blank="none", error=InvalidArgumentError)


def context(principals: Principals, key: str, who: Who) -> RequestContext:
    ctx = principals.authenticate(key)
    auth_date = who.authorization_date
    if isinstance(auth_date, datetime):
        auth_date = auth_date.date()
    return replace(
        ctx,
        purpose=_declared(who.purpose, "--purpose"),
        case_ref=_declared(who.case_ref, "--case-ref"),
        authorization_ref=_declared(who.authorization_ref, "--authorization-ref"),
        authorization_date=auth_date,
    )


@contextmanager
def open_runtime(
    data_dir: Path | None, *, detector: str = "auto", model: str | None = None
) -> Iterator[Runtime]:
    """The data folder's runtime (store, governance, services), opened from one Settings
    (``model``: a model added with ``faceledger model add``; None: ``$FACELEDGER_MODEL``, else
    the shipped network)."""
    runtime = Runtime.open(Settings.resolve(data_dir, detector=detector, model=model))
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def open_service(
    data_dir: Path | None, who: Who, *, detector: str = "auto", model: str | None = None
) -> Iterator[tuple[FaceService, RequestContext]]:
    """The governed service of the data folder and the context of the CLI's principal."""
    key = resolve_key(data_dir, who.api_key)
    with open_runtime(data_dir, detector=detector, model=model) as runtime:
        yield runtime.faces, context(runtime.principals, key, who)


@contextmanager
def open_governance(
    data_dir: Path | None, who: Who
) -> Iterator[tuple[GovernanceService, RequestContext]]:
    """Leads and reviews of the data folder, as the CLI's principal."""
    key = resolve_key(data_dir, who.api_key)
    with open_runtime(data_dir) as runtime:
        yield runtime.governance, context(runtime.principals, key, who)
