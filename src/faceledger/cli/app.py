"""The root Typer app: registers every command group."""

from __future__ import annotations

from typing import Annotated

import typer

from faceledger import __version__
from faceledger.cli import (
    admin,
    auditlog,
    collections,
    database,
    fairness,
    leads,
    lifecycle,
    models,
    normalize,
    policy,
    recognition,
    report,
    serve,
    users,
    video,
)

app = typer.Typer(
    name="faceledger",
    help="Face recognition with governance and a measured demographic audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(recognition.detect)
app.command()(recognition.represent)
app.command()(recognition.compare)
# Command groups register here: app.add_typer(module.app, name="...")
app.add_typer(collections.collection_app, name="collection")
app.command("index")(collections.index)
app.add_typer(collections.faces_app, name="faces")
app.command("search")(collections.search)
app.add_typer(users.user_app, name="user")
app.add_typer(admin.app, name="admin")
app.add_typer(policy.app, name="policy")
app.add_typer(auditlog.app, name="audit-log")
app.add_typer(leads.app, name="leads")
app.add_typer(lifecycle.consent_app, name="consent")
app.add_typer(lifecycle.retention_app, name="retention")
app.add_typer(lifecycle.case_app, name="case")
app.add_typer(lifecycle.subject_app, name="subject")
app.command("serve")(serve.serve)
app.add_typer(fairness.app, name="fairness")
app.add_typer(report.app, name="report")
app.add_typer(video.app, name="video")
app.add_typer(models.app, name="model")
app.add_typer(database.app, name="db")
models.app.command("normalize")(normalize.normalize_command)
models.app.command("scorings")(normalize.scorings_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faceledger {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Face recognition with governance and a measured demographic audit."""


def main() -> None:
    app()
