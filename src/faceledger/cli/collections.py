"""``faceledger collection | index | faces | search | user``: the face store from the shell.

Every command goes through ``FaceService`` with the data folder's ``GovernedGate``, as the
account of an API key (see ``faceledger.cli.principal``): the policy decides, the audit log
records, results wait for two reviewers where the policy says so. Where the data lives:
``--data-dir``, else ``$FACELEDGER_HOME``, else the user data folder (``faceledger.settings``).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import (
    decision_of,
    expand_images,
    fail,
    handle_errors,
    print_json,
    withheld_exit,
)
from faceledger.cli.principal import DECLARED, Who, declares_request, open_service
from faceledger.engine.batch import ImageExecutor
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.errors import FaceledgerError
from faceledger.governance.error_rates import describe as describe_rates
from faceledger.service.faces import (
    Governed,
    PolicyDenied,
    QualityFilter,
    ResultsWithheld,
    SearchResult,
)

console = Console()

CollectionArg = Annotated[str, typer.Argument(help="Collection id.", show_default=False)]
ThresholdOpt = Annotated[
    float,
    typer.Option(min=0.0, max=99.999, help="Similarity (0–100) a match must reach; 0: any."),
]
LimitOpt = Annotated[int, typer.Option(min=1, max=4096, help="Page size.")]
TokenOpt = Annotated[str | None, typer.Option(help="Token of the next page (from a listing).")]
DetectorOpt = Annotated[
    str, typer.Option(help="Face detector: auto (HOG, then the CNN if needed), hog or cnn.")
]

ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="A model added by 'faceledger model add' (its name or user:NAME) to embed with "
        "(default: $FACELEDGER_MODEL, else the shipped network).",
        show_default=False,
    ),
]

collection_app = typer.Typer(help="Create, list, describe and delete collections.")
faces_app = typer.Typer(help="List and delete the faces of a collection.")


def _echo_line(text: str) -> None:
    """A line on stdout, flushed: what is printed is acknowledged."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------- collections
@collection_app.command("create")
@handle_errors
@declares_request
def collection_create(
    collection: CollectionArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
    retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days a face is kept after enrolment (default: policy's cap)."),
    ] = None,
    until_case_closed: Annotated[
        bool, typer.Option(help="Faces need a case reference and go when the case is closed.")
    ] = False,
    days_since_match: Annotated[
        int | None,
        typer.Option(min=1, help="Days a face is kept after a search last returned it."),
    ] = None,
    keep_crops: Annotated[
        bool | None,
        typer.Option(
            "--keep-crops/--no-keep-crops",
            help="Keep a small crop of each enrolled face for reviewers (default: when the"
            " policy holds this organization's searches for review).",
        ),
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Create an empty collection for the engine's model (--model), with its retention rule."""
    with open_service(data_dir, who, model=model) as (svc, ctx):
        info = svc.create_collection(
            ctx,
            collection,
            retention_days=retention_days,
            until_case_closed=until_case_closed,
            days_since_match=days_since_match,
            keep_crops=keep_crops,
        ).result
    if json_out:
        print_json(info.to_dict())
    else:
        typer.echo(f"created collection {info.collection_id} (model {info.model_id})")


@collection_app.command("list")
@handle_errors
@declares_request
def collection_list(
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    limit: LimitOpt = 100,
    next_token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The tenant's collections, by id."""
    with open_service(data_dir, who) as (svc, ctx):
        page = svc.list_collections(ctx, limit=limit, next_token=next_token).result
    if json_out:
        print_json(
            {"collections": [c.to_dict() for c in page.items], "next_token": page.next_token}
        )
        return
    table = Table(title="collections")
    for col in ("collection", "faces", "users", "images", "model", "created"):
        table.add_column(col)
    for c in page.items:
        table.add_row(
            c.collection_id, str(c.face_count), str(c.user_count), str(c.image_count),
            c.model_id, c.created_at,
        )  # fmt: skip
    console.print(table)
    if page.next_token:
        typer.echo(f"next page: --next-token {page.next_token}")


@collection_app.command("describe")
@handle_errors
@declares_request
def collection_describe(
    collection: CollectionArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Face count, user count, model id and creation time of a collection."""
    with open_service(data_dir, who) as (svc, ctx):
        info = svc.describe_collection(ctx, collection).result
    if json_out:
        print_json(info.to_dict())
        return
    for key, value in info.to_dict().items():
        typer.echo(f"{key}: {value}")


@collection_app.command("delete")
@handle_errors
@declares_request
def collection_delete(
    collection: CollectionArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a collection with all its faces and users."""
    if not yes and not typer.confirm(f"delete collection {collection} and all its faces?"):
        raise typer.Exit(1)
    with open_service(data_dir, who) as (svc, ctx):
        info = svc.delete_collection(ctx, collection).result
    if json_out:
        print_json({"deleted": info.to_dict()})
    else:
        typer.echo(f"deleted collection {collection} ({info.face_count} faces)")


# ---------------------------------------------------------------------- indexing
@handle_errors
@declares_request
def index(
    collection: CollectionArg,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (recursive).")],
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    max_faces: Annotated[int, typer.Option(min=1, max=100, help="Faces kept per image.")] = 100,
    quality_filter: Annotated[
        QualityFilter, typer.Option(case_sensitive=False, help="Quality bar (see README).")
    ] = QualityFilter.LOW,
    external_id: Annotated[
        str, typer.Option(help="External image id: the file 'name' or the 'stem'.")
    ] = "name",
    resume: Annotated[
        bool, typer.Option(help="Skip images already indexed (same SHA-256).")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Processes, or CPUs of the local Ray cluster (default: the usable CPUs)."
        ),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Decode and embed on a Ray cluster: a local one started for the run, or the "
            "one at --ray-address (pip install 'faceledger\\[ray]').",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Address of the Ray cluster (host:port, or 'auto': the one 'ray start' "
            "started here); implies --ray.",
            show_default=False,
        ),
    ] = None,
    detector: DetectorOpt = "auto",
    model: ModelOpt = None,
    consent: Annotated[
        str | None,
        typer.Option(help="Reference of the recorded consent of the people in these images."),
    ] = None,
    age_band: Annotated[
        str | None,
        typer.Option(
            help="The age band you declare for the people in these images (0-4, 5-11, 12-17, "
            "adult; never inferred), kept with their faces."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per image (JSON Lines), then a summary.")
    ] = False,
) -> None:
    """Index the faces of images into COLLECTION, on all cores (or a Ray cluster), resumable.

    A line is printed for each image only after its faces are committed: what was printed is
    stored, even if the run is killed. Rerunning skips the images already indexed. With --ray,
    decoding and embedding run on Ray; this process still decides, commits and records each
    image as one request.
    """
    paths = expand_images(images)
    if not paths:
        raise fail("no image files given")
    if external_id not in ("name", "stem"):
        raise fail("--external-id must be 'name' or 'stem'")
    if ray_address and workers is not None:
        raise fail("--workers sizes a local Ray cluster; the one at --ray-address has its own")
    counts = {"images": 0, "indexed_faces": 0, "unindexed_faces": 0, "skipped": 0, "errors": 0}
    with (
        _executor(ray or bool(ray_address), ray_address, workers) as executor,
        open_service(data_dir, who, detector=detector, model=model) as (svc, ctx),
    ):
        for path, result in svc.index_images(
            ctx, collection, paths,
            external_ids=(lambda p: p.name) if external_id == "name" else (lambda p: p.stem),
            max_faces=max_faces, quality_filter=quality_filter, resume=resume,
            workers=workers, progress=sys.stderr.isatty(), consent=consent, executor=executor,
            age_band=age_band,
        ):  # fmt: skip
            counts["images"] += 1
            if isinstance(result, Governed):
                result = result.result
            if isinstance(result, FaceledgerError):
                counts["errors"] += 1
                if json_out:
                    error = {"code": result.code, "message": str(result)}
                    _echo_line(_jsonl({"image": path, "error": error}))
                else:
                    typer.echo(f"error: {path}: {result}", err=True)
                if isinstance(result, PolicyDenied):
                    typer.echo(
                        "stopped: the policy refuses this request for every image of the run",
                        err=True,
                    )
                continue
            if result.skipped:
                counts["skipped"] += 1
            counts["indexed_faces"] += len(result.face_records)
            counts["unindexed_faces"] += len(result.unindexed_faces)
            if json_out:
                _echo_line(_jsonl({"image": path, **result.to_dict()}))
            elif result.skipped:
                _echo_line(f"skipped {path} (already indexed)")
            else:
                ids = " ".join(r.face_id for r in result.face_records) or "-"
                _echo_line(f"indexed {path} faces: {ids}")
    if json_out:
        _echo_line(_jsonl({"summary": counts}))
    else:
        typer.echo(
            f"{counts['images']} images: {counts['indexed_faces']} faces indexed, "
            f"{counts['unindexed_faces']} not indexed, {counts['skipped']} skipped, "
            f"{counts['errors']} errors"
        )
    if counts["errors"]:
        raise typer.Exit(1)


def _executor(
    ray: bool, address: str | None, workers: int | None
) -> AbstractContextManager[ImageExecutor | None]:
    """The Ray executor the options ask for (Ray missing: an error naming the extra), else
    None: the service's own worker processes."""
    if not ray:
        return nullcontext(None)
    from faceledger.engine.ray_batch import RayExecutor

    return RayExecutor(address, num_cpus=None if address else workers)


def _jsonl(obj: object) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------- faces
@faces_app.command("list")
@handle_errors
@declares_request
def faces_list(
    collection: CollectionArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    limit: LimitOpt = 100,
    next_token: TokenOpt = None,
    user: Annotated[str | None, typer.Option(help="Only the faces of this user.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Faces in insertion order, one page at a time."""
    with open_service(data_dir, who) as (svc, ctx):
        page = svc.list_faces(
            ctx, collection, limit=limit, next_token=next_token, user_id=user
        ).result
    if json_out:
        print_json({"faces": [f.to_dict() for f in page.items], "next_token": page.next_token})
        return
    table = Table(title=f"faces of {collection}")
    table.add_column("face id", no_wrap=True, min_width=36)
    for col in ("external image id", "box (l,t w×h)", "user", "created"):
        table.add_column(col)
    for f in page.items:
        b = f.box
        table.add_row(
            f.face_id, f.external_image_id or "", f"{b.left},{b.top} {b.width}×{b.height}",
            f.user_id or "", f.created_at,
        )  # fmt: skip
    console.print(table)
    if page.next_token:
        typer.echo(f"next page: --next-token {page.next_token}")


@faces_app.command("delete")
@handle_errors
@declares_request
def faces_delete(
    collection: CollectionArg,
    face_ids: Annotated[list[str], typer.Argument(help="Face ids to delete.")],
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Delete faces by id."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.delete_faces(ctx, collection, face_ids)
    deleted = g.result
    missing = [f for f in face_ids if f not in set(deleted)]
    if json_out:
        print_json({"deleted_faces": deleted, "not_found": missing, "decision": decision_of(g)})
    else:
        typer.echo(f"deleted {len(deleted)} face(s)")
        for f in missing:
            typer.echo(f"not found: {f}", err=True)
    if missing:
        raise typer.Exit(1)


# ---------------------------------------------------------------------- search
@handle_errors
@declares_request
def search(
    collection: CollectionArg,
    image: Annotated[Path, typer.Argument(help="Image whose largest face is searched.")],
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    threshold: ThresholdOpt = DEFAULT_SEARCH_THRESHOLD,
    max_results: Annotated[int, typer.Option(min=1, max=4096, help="Most matches.")] = 10,
    all_faces: Annotated[bool, typer.Option(help="Search every face of the image.")] = False,
    approximate: Annotated[
        bool, typer.Option(help="Opt in to the approximate index (may miss a match).")
    ] = False,
    detector: DetectorOpt = "auto",
    model: ModelOpt = None,
    age_band: Annotated[
        str | None,
        typer.Option(
            help="The probe's age band as you declare it (0-4, 5-11, 12-17, adult; never "
            "inferred): the policy may refuse or hold a search of a child."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the faces of COLLECTION most similar to the face in IMAGE (exact search unless
    --approximate), with the expected number of false candidates at the threshold used."""
    with open_service(data_dir, who, detector=detector, model=model) as (svc, ctx):
        try:
            g = svc.search_faces_by_image(
                ctx, collection, image, threshold=threshold, max_results=max_results,
                all_faces=all_faces, approximate=approximate, age_band=age_band,
            )  # fmt: skip
        except ResultsWithheld as exc:
            raise withheld_exit(exc, json_out) from None
    result = g.result
    if json_out:
        print_json({**result.to_dict(), "decision": decision_of(g)})
        return
    _print_search(image, result)


def _print_search(image: Path, result: SearchResult) -> None:
    if result.error_rates is not None:
        typer.echo(describe_rates(result.error_rates))
        if result.error_rates.get("age_band_fmr") is not None:
            typer.echo(
                f"audited FMR of age band {result.error_rates['age_band']}: "
                f"{result.error_rates['age_band_fmr']:.2e}"
            )
    if not result.searches:
        typer.echo(f"no face found in {image}")
        raise typer.Exit(1)
    for i, s in enumerate(result.searches, 1):
        title = f"{image.name} face {i}: matches at similarity ≥ {result.threshold:g}"
        if result.search_mode != "exact":
            title += f" ({result.search_mode} search: may miss a match)"
        if not s.matches:
            typer.echo(f"{title}: none")
            continue
        table = Table(title=title)
        table.add_column("#")
        table.add_column("face id", no_wrap=True, min_width=36)
        for col in ("external image id", "user", "similarity", "distance"):
            table.add_column(col)
        for rank, m in enumerate(s.matches, 1):
            table.add_row(
                str(rank), m.face.face_id, m.face.external_image_id or "", m.face.user_id or "",
                f"{m.similarity:.2f}", f"{m.distance:.4f}",
            )  # fmt: skip
        console.print(table)
