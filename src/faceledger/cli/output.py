"""Shared CLI plumbing: one-line errors without tracebacks, JSON printing, expanding paths."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import typer

from faceledger.errors import FaceledgerError
from faceledger.service.unit import Governed, ResultsWithheld

F = TypeVar("F", bound=Callable[..., Any])

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn library errors into a one-line message and exit code 1 (2 is usage, from click)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaceledgerError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def expand_images(paths: Iterable[Path], *, recursive: bool = True) -> list[Path]:
    """Files as given; folders expanded to the image files inside them, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            out.extend(sorted(p for p in path.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(path)
    return out


def withheld_exit(exc: ResultsWithheld, json_out: bool) -> typer.Exit:
    """Results held for review: say so (the lead), exit 3."""
    if json_out:
        print_json({"status": "pending", "lead": exc.lead.to_dict(), "rule": exc.decision.rule})
    else:
        typer.echo(f"held for review: {exc}", err=True)
        rates = getattr(exc.lead, "error_rates", None)
        if rates:
            from faceledger.governance.error_rates import describe

            typer.echo(describe(rates), err=True)
    return typer.Exit(3)


def decision_of(governed: Governed[object]) -> dict[str, object]:
    """The decision behind a result, as the HTTP API gives it."""
    return governed.decision.to_dict()
