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
        int, typer.Option(min=0, max=1, help="Video search worker threads (0: jobs wait).")
    ] = 1,
    max_video_mb: Annotated[
        float, typer.Option(min=0.01, help="Largest video upload accepted, MiB.")
    ] = 512.0,
) -> None:
    """Start the HTTP API (OpenAPI at /docs). Every request needs an API key ('admin
    create-key'), is decided by the policy and written to the audit log."""
    import uvicorn

    from faceledger.api import create_app
    from faceledger.api.accesslog import log_config
    from faceledger.settings import data_dir as resolve

    root = resolve(data_dir)
    app = create_app(
        root, policy, None,
        max_body=int(max_body_mb * 1024 * 1024),
        max_video_body=int(max_video_mb * 1024 * 1024),
        detector=detector, model=model, scoring=scoring,
    )  # fmt: skip
    source = policy or "the data folder's policy.yaml or the packaged default"
    typer.echo(
        f"faceledger: data folder {root}, policy {source}; docs at http://{host}:{port}/docs"
    )
    task = None
    if retention_every > 0:
        from faceledger.retention_task import RetentionTask

        task = RetentionTask(app.state.runtime, retention_every * 60).start()
    worker = None
    if video_workers:
        from faceledger.video.jobs import VideoWorker

        worker = VideoWorker(app.state.faces).start()
    try:
        # the access log without credentials passed in query strings (faceledger.api.accesslog)
        uvicorn.run(app, host=host, port=port, log_level="info", log_config=log_config())
    finally:
        if task is not None:
            task.stop()
        if worker is not None:
            worker.stop()
