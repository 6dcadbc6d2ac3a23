"""``faceledger model normalize|scorings``: label-free score normalisation fitted on images the
user gives, kept beside the models in the data folder (``engine.scoring``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import handle_errors, print_json
from faceledger.engine.scoring import MIN_IMAGES, N_CLUSTERS, TARGET_FMR

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@handle_errors
def normalize_command(
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="A CSV with columns path and subject (other columns are ignored: no "
            "demographic label is used). Paths are relative to the CSV's folder."
        ),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            help="A folder of images: in subfolders, one subfolder per person; loose images "
            "are each their own person (so give one image per person)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="A model added by 'faceledger model add' (default: the shipped one)."),
    ] = None,
    clusters: Annotated[int, typer.Option(min=1, help="k-means clusters (at most).")] = N_CLUSTERS,
    target_fmr: Annotated[
        float, typer.Option(help="False-match rate every cluster is given.")
    ] = TARGET_FMR,
    seed: Annotated[int, typer.Option(help="Seed of k-means (the fit is deterministic).")] = 0,
    workers: Annotated[int | None, typer.Option(help="Processes for embedding.")] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit a normalised scoring of the model on your images (no demographic labels) and keep it
    in the data folder. Use it with $FACELEDGER_SCORING=ID (or `serve --scoring ID`):
    collections created then are of the scoring's id, and compare and search use its scores."""
    from faceledger.engine.batch import process_images
    from faceledger.engine.core import EngineConfig
    from faceledger.engine.scoring import fit
    from faceledger.errors import FaceledgerError
    from faceledger.settings import data_dir as resolve

    if (manifest is None) == (folder is None):
        raise FaceledgerError("give one of --manifest CSV or --folder DIR", code="invalid_argument")
    paths, subjects, source = _inputs(manifest, folder)
    if len(paths) < MIN_IMAGES:  # before embedding anything
        raise FaceledgerError(
            f"a normalisation needs faces of at least {MIN_IMAGES} images; got {len(paths)} "
            f"in {source}",
            code="invalid_argument",
        )
    root = resolve(data_dir)
    user_model = None
    if model is not None:
        from faceledger.engine.user_models import get

        user_model = get(root, model)
        user_model.register_calibration()
    config = EngineConfig(user_model=user_model)
    vectors = np.full((len(paths), 128), np.nan)
    base = None
    for index, (_path, result) in enumerate(
        process_images([str(p) for p in paths], _first_face, config=config, workers=workers)
    ):
        if isinstance(result, tuple):
            base, vectors[index] = result[0], result[1]
    if base is None:
        raise FaceledgerError(f"no face found in the {len(paths)} images", code="no_face")
    scoring = fit(
        vectors, subjects, base_model_id=base, clusters=clusters, target=target_fmr, seed=seed,
        source=source,
    )  # fmt: skip
    file = scoring.save(root)
    found = int(np.isfinite(vectors).all(axis=1).sum())
    if json_out:
        print_json({"scoring_id": scoring.scoring_id, "file": str(file), **scoring.fitted})
        return
    typer.echo(f"fitted {scoring.scoring_id} on {found} of {len(paths)} images: {file}")
    typer.echo(
        f"use it with FACELEDGER_SCORING={scoring.scoring_id} (or `serve --scoring`); measure "
        "its effect with `faceledger fairness audit --calibrate`"
    )


@handle_errors
def scorings_command(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """The normalised scorings fitted in the data folder."""
    from faceledger.engine.scoring import on_file
    from faceledger.settings import data_dir as resolve

    found = on_file(resolve(data_dir))
    if json_out:
        print_json({"scorings": [{"scoring_id": s.scoring_id, **s.fitted} for s in found]})
        return
    for s in found:
        typer.echo(f"{s.scoring_id}\t{s.fitted.get('images')} images\t{s.fitted.get('source')}")


def _first_face(engine, path: str) -> tuple[str, np.ndarray] | None:  # noqa: ANN001
    """Worker task: the model id and embedding of the largest face, None when there is none."""
    faces = engine.represent(path)
    return (engine.model_id, faces[0].embedding) if faces else None


def _inputs(manifest: Path | None, folder: Path | None) -> tuple[list[Path], list[str], str]:
    from faceledger.errors import FaceledgerError

    if manifest is not None:
        from faceledger.fairness.datasets import load_manifest

        s = load_manifest(manifest)
        return [s.root / p for p in s.paths], list(s.subjects), f"manifest {manifest.name}"
    assert folder is not None
    if not folder.is_dir():
        raise FaceledgerError(f"{folder}: not a folder", code="invalid_argument")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    subjects = [
        p.parent.relative_to(folder).as_posix() if p.parent != folder else f"image:{p.name}"
        for p in files
    ]
    return files, subjects, f"folder {folder.name}"
