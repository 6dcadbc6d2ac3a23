"""``faceledger model add|list|calibrate``: face embedding models a user brings
(engine.user_models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import handle_errors, print_json

app = typer.Typer(
    help="Face embedding models you bring (dlib ResNet files, ONNX models).", no_args_is_help=True
)


@app.command("add")
@handle_errors
def add_command(
    file: Annotated[
        Path,
        typer.Argument(help="A dlib DNN face descriptor file (.dat) or an ONNX embedding model."),
    ],
    name: Annotated[str, typer.Option(help="Its name; its model id is user:NAME.")],
    calibration: Annotated[
        str | None,
        typer.Option(
            help="D90:D99, the descriptor distances at which you measured FMR 1e-3 and 1e-4 "
            "(similarity 90 and 99); without it the model's comparisons are refused."
        ),
    ] = None,
    input_size: Annotated[
        int | None, typer.Option(help="ONNX: the side of the square chip it takes, in pixels.")
    ] = None,
    normalization: Annotated[
        str | None,
        typer.Option(
            help="ONNX: uint8 (pixels as they are), unit (x/255), arcface ((x-127.5)/127.5) or "
            "MEAN:STD; append ,bgr for blue-first models."
        ),
    ] = None,
    alignment: Annotated[
        str | None,
        typer.Option(
            help="ONNX: dlib-150 (dlib's aligned chip) or arcface-112 (five points onto "
            "ArcFace's 112x112 template), scaled to --input-size."
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check FILE is a dlib ResNet face descriptor the converter can run (or an ONNX model that
    runs on the chips its options describe and gives 128 numbers per face), copy it into the
    data folder and register it under its own model id."""
    from faceledger.engine.user_models import add, parse_calibration
    from faceledger.settings import data_dir as resolve

    scale = parse_calibration(calibration) if calibration is not None else None
    model = add(
        resolve(data_dir), file, name, scale,
        input_size=input_size, normalization=normalization, alignment=alignment,
    )  # fmt: skip
    if json_out:
        print_json(model.to_dict())
        return
    typer.echo(f"added {model.model_id} (sha256 {model.sha256[:16]}…): {model.file}")
    typer.echo(
        (
            "it has no similarity calibration (`faceledger model calibrate "
            f"{model.name}` or --calibration) and "
            if scale is None
            else "it has "
        )
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


@app.command("calibrate")
@handle_errors
def calibrate_command(
    model: Annotated[str, typer.Argument(help="The model's name or id (user:NAME).")],
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="A CSV of path,subject (or path,identity) to fit on, instead of LFW; relative "
            "paths are relative to the CSV's folder."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Folder holding lfw/ (default: $FACELEDGER_DATA or ../shared/data)."),
    ] = None,
    max_images: Annotated[
        int | None,
        typer.Option(min=2, help="Fit on a seeded random subset of at most this many images."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the subset and of the pair sample.")] = 0,
    workers: Annotated[int | None, typer.Option(help="Processes for embedding.")] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit MODEL's similarity scale on a labelled set (LFW by default): the distances at which
    impostor pairs match with probability 1e-3 and 1e-4 become similarity 90 and 99. Stored
    with the model; audit it again afterwards (`faceledger fairness audit --model`)."""
    from faceledger.engine.user_models import get, set_calibration
    from faceledger.fairness.scale import fit, labelled_set
    from faceledger.settings import data_dir as resolve

    home = resolve(data_dir)
    user = get(home, model)
    log = (lambda m: typer.echo(m, err=True)) if json_out else typer.echo
    audit_set = labelled_set(manifest, data, max_images, seed)
    scale, on = fit(user, audit_set, seed=seed, workers=workers, log=log)
    user = set_calibration(home, user.name, scale, on)
    if json_out:
        print_json(user.to_dict())
        return
    typer.echo(
        f"{user.model_id}: similarity 90 at distance {scale[0]:.4f}, 99 at {scale[1]:.4f} "
        f"({on['impostor_pairs']:,} impostor pairs of {on['faces']} faces in {on['dataset']})"
    )
    if on["fnmr_at_90"] is not None:
        typer.echo(
            f"genuine pairs not matched: {on['fnmr_at_90']:.2%} at 90, {on['fnmr_at_99']:.2%} "
            f"at 99 ({on['genuine_pairs']:,} pairs)"
        )
    typer.echo(f"now audit it: faceledger fairness audit --model {user.model_id}")
