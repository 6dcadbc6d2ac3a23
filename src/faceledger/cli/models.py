"""``faceledger model add|list``: face descriptor models a user brings (engine.user_models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import handle_errors, print_json

app = typer.Typer(
    help="Face descriptor models you bring (dlib ResNet files).", no_args_is_help=True
)


@app.command("add")
@handle_errors
def add_command(
    file: Annotated[Path, typer.Argument(help="A dlib DNN face descriptor file (.dat).")],
    name: Annotated[str, typer.Option(help="Its name; its model id is user:NAME.")],
    calibration: Annotated[
        str | None,
        typer.Option(
            help="D90:D99, the descriptor distances at which you measured FMR 1e-3 and 1e-4 "
            "(similarity 90 and 99); without it the model's comparisons are refused."
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check FILE is a dlib ResNet face descriptor the converter can run, copy it into the data
    folder and register it under its own model id."""
    from faceledger.engine.user_models import add, parse_calibration
    from faceledger.settings import data_dir as resolve

    scale = parse_calibration(calibration) if calibration is not None else None
    model = add(resolve(data_dir), file, name, scale)
    if json_out:
        print_json(model.to_dict())
        return
    typer.echo(f"added {model.model_id} (sha256 {model.sha256[:16]}…): {model.file}")
    typer.echo(
        ("it has no similarity calibration (--calibration) and " if scale is None else "it has ")
        + "no fairness audit on file yet: run `faceledger fairness audit --model "
        + f"{model.model_id}` before relying on its thresholds"
    )


@app.command("list")
@handle_errors
def list_command(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """The models added to the data folder."""
    from faceledger.engine.user_models import registered
    from faceledger.settings import data_dir as resolve

    models = registered(resolve(data_dir))
    if json_out:
        print_json({"models": [m.to_dict() for m in models]})
        return
    for m in models:
        typer.echo(f"{m.model_id}\t{m.sha256[:16]}\t{m.added_at}\t{m.file}")
