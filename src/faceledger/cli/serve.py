"""``faceledger serve``: the governed HTTP API on the embedded default (a data folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt
from faceledger.cli.output import handle_errors


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    data_dir: DataDirOpt = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy file (default: <data dir>/policy.yaml, else the packaged default).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    max_body_mb: Annotated[
        float, typer.Option(min=0.01, help="Largest request body accepted, MiB.")
    ] = 10.0,
    detector: Annotated[
        str, typer.Option(help="Face detector: auto (HOG, then the CNN if needed), hog or cnn.")
    ] = "auto",
    model: Annotated[
        str | None,
        typer.Option(
            help="Embed with a model added by 'faceledger model add' (its name or user:NAME; "
            "default $FACELEDGER_MODEL, else the shipped network). Collections are of its id."
        ),
    ] = None,
    scoring: Annotated[
        str | None,
        typer.Option(
            help="Score with a normalisation fitted by 'faceledger model normalize' (its id; "
            "default $FACELEDGER_SCORING, else raw distances). Collections are of its id."
        ),
    ] = None,
    retention_every: Annotated[
        float,
        typer.Option(
            min=0, help="Run the retention purge of every organization every N minutes; 0: off."
        ),
    ] = 60.0,
    video_workers: Annotated[
        int,
        typer.Option(min=0, max=1, help="Video search worker threads per process (0: jobs wait)."),
    ] = 1,
    max_video_mb: Annotated[
        float, typer.Option(min=0.01, help="Largest video upload accepted, MiB.")
    ] = 512.0,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port and the data folder (each with its own "
            "engine; sessions, limits, reviews and the audit chain are shared in the database).",
        ),
    ] = 1,
) -> None:
    """Start the HTTP API (OpenAPI at /docs). Every request needs an API key ('admin
    create-key'), is decided by the policy and written to the audit log."""
    from faceledger.api.serving import ServeOptions, run
    from faceledger.settings import data_dir as resolve

    root = resolve(data_dir)
    options = ServeOptions(
        data_dir=str(root), policy_path=None if policy is None else str(policy),
        max_body=int(max_body_mb * 1024 * 1024), max_video_body=int(max_video_mb * 1024 * 1024),
        detector=detector, model=model, scoring=scoring, retention_every=retention_every * 60,
        video_workers=video_workers,
    )  # fmt: skip
    source = policy or "the data folder's policy.yaml or the packaged default"
    processes = f", {workers} processes" if workers > 1 else ""
    typer.echo(
        f"faceledger: data folder {root}, policy {source}{processes}; "
        f"docs at http://{host}:{port}/docs"
    )
    run(options, host=host, port=port, workers=workers)
