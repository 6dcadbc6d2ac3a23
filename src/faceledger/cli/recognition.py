"""``faceledger detect | represent | compare``: the engine on image files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from faceledger.cli.output import expand_images, fail, handle_errors, print_json
from faceledger.engine import DEFAULT_THRESHOLD, Engine, EngineConfig
from faceledger.engine.batch import process_images
from faceledger.engine.types import Face
from faceledger.errors import FaceledgerError

ImagesArg = Annotated[
    list[Path], typer.Argument(help="Image files or folders.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON (see README).")]
DetectorOpt = Annotated[
    str,
    typer.Option(
        help="Face detector: auto (HOG, then the CNN where HOG found no face it could see), "
        "hog (fastest) or cnn (slowest, finds most)."
    ),
]
MinFaceOpt = Annotated[int, typer.Option(help="Smallest face to look for, in pixels.")]
WorkersOpt = Annotated[int | None, typer.Option(help="Processes (default: one per usable CPU).")]

console = Console()


def _detect_task(engine: Engine, path: str) -> list[dict[str, object]]:
    return [f.to_dict(embedding=False) for f in engine.detect(path)]


def _represent_task(engine: Engine, path: str) -> list[dict[str, object]]:
    return [f.to_dict(embedding=True) for f in engine.represent(path)]


def _run_many(task, images, config, workers, json_out):  # noqa: ANN001, ANN202
    paths = [str(p) for p in expand_images(images)]
    if not paths:
        raise fail("no image files given")
    results = []
    failures = 0
    for path, result in process_images(
        paths, task, config=config, workers=workers, progress=len(paths) > 3, desc="faces"
    ):
        if isinstance(result, FaceledgerError):
            failures += 1
            results.append({"image": path, "error": {"code": result.code, "message": str(result)}})
            if not json_out:
                typer.echo(f"error: {path}: {result}", err=True)
        else:
            results.append({"image": path, "faces": result})
    return results, failures


@handle_errors
def detect(
    images: ImagesArg,
    json_out: JsonOpt = False,
    detector: DetectorOpt = "auto",
    min_face_size: MinFaceOpt = 40,
    workers: WorkersOpt = None,
) -> None:
    """Find faces: box, score, landmarks, pose and quality, largest first."""
    config = EngineConfig(detector=detector, min_face_size=min_face_size)
    results, failures = _run_many(_detect_task, images, config, workers, json_out)
    if json_out:
        print_json({"images": results})
    else:
        for item in results:
            if "faces" in item:
                _print_faces(item["image"], item["faces"])
    if failures:
        raise typer.Exit(1)


@handle_errors
def represent(
    images: ImagesArg,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (the only output form).")
    ] = True,
    detector: DetectorOpt = "auto",
    min_face_size: MinFaceOpt = 40,
    workers: WorkersOpt = None,
) -> None:
    """Faces with their 128-D embeddings and model id, as JSON."""
    config = EngineConfig(detector=detector, min_face_size=min_face_size)
    results, failures = _run_many(_represent_task, images, config, workers, True)
    print_json({"model_id": Engine(config).model_id, "images": results})
    if failures:
        raise typer.Exit(1)


@handle_errors
def compare(
    source: Annotated[Path, typer.Argument(help="Image whose largest face is compared.")],
    target: Annotated[Path, typer.Argument(help="Image whose every face is compared.")],
    json_out: JsonOpt = False,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="Similarity (0–100) at which faces match.")
    ] = DEFAULT_THRESHOLD,
    detector: DetectorOpt = "auto",
) -> None:
    """Compare the largest face in SOURCE with every face in TARGET."""
    result = Engine(detector=detector).compare(source, target, threshold=threshold)
    if json_out:
        print_json(result.to_dict())
        return
    if result.source_face is None:
        typer.echo(f"no face found in {source}")
        raise typer.Exit(1)
    if not result.matches:
        typer.echo(f"no face found in {target}")
        return
    table = Table(title=f"{source.name} vs {target.name} (threshold {threshold:g})")
    for col in ("target face", "box", "similarity", "distance", "match"):
        table.add_column(col)
    for i, m in enumerate(sorted(result.matches, key=lambda m: -m.similarity), 1):
        b = m.face.box
        table.add_row(
            str(i),
            f"{b.left},{b.top} {b.width}×{b.height}",
            f"{m.similarity:.2f}",
            f"{m.distance:.4f}",
            "[green]yes[/]" if m.match else "no",
        )
    console.print(table)


def _print_faces(image: str, faces: list[dict[str, object]]) -> None:
    if not faces:
        console.print(f"{image}: no face found")
        return
    table = Table(title=f"{image}: {len(faces)} face{'s' * (len(faces) != 1)}")
    for col in ("#", "box (l,t w×h)", "score", "yaw/pitch/roll", "sharp", "bright", "size"):
        table.add_column(col)
    for i, f in enumerate(faces, 1):
        b, p, q = f["box"], f["pose"], f["quality"]
        table.add_row(
            str(i),
            f"{b['left']},{b['top']} {b['width']}×{b['height']}",
            f"{f['score']:.2f}",
            f"{p['yaw']:.0f}/{p['pitch']:.0f}/{p['roll']:.0f}",
            f"{q['sharpness']:.0f}",
            f"{q['brightness']:.0f}",
            str(q["face_size"]),
        )
    console.print(table)


__all__ = ["Face", "compare", "detect", "represent"]
