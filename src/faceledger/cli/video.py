"""``faceledger video search COLLECTION FILE``: search stored footage for a collection's faces.

One governed request (``video.search``) for the whole video, like the HTTP job: decided before
anything is decoded, then run here with a progress bar; the matches are printed, or held for
review as a lead (exit 3) where the policy says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import decision_of, fail, handle_errors, print_json
from faceledger.cli.principal import DECLARED, Who, declares_request, open_service
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.video import VideoSearchPage

app = typer.Typer(help="Search stored video footage for the faces of a collection.")
console = Console(stderr=False)


@app.command("search")
@handle_errors
@declares_request
def search(
    collection: Annotated[str, typer.Argument(help="Collection id.", show_default=False)],
    video: Annotated[Path, typer.Argument(help="MP4, MOV, MKV or WebM file.")],
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=99.999, help="Similarity (0–100) a match must reach.")
    ] = DEFAULT_SEARCH_THRESHOLD,
    max_results: Annotated[int, typer.Option(min=1, max=4096, help="Most matches.")] = 10,
    sample_fps: Annotated[
        float, typer.Option(min=0.1, max=30, help="Frames sampled per second of footage.")
    ] = 2.0,
    min_face_size: Annotated[
        int, typer.Option(min=20, max=1000, help="Smallest face looked for, pixels.")
    ] = 40,
    json_out: JsonOpt = False,
) -> None:
    """Find the faces of COLLECTION in VIDEO: tracks with first and last timestamps, each
    searched once."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.start_video_search(
            ctx, collection, video, threshold=threshold, max_results=max_results,
            sample_fps=sample_fps, min_face_size=min_face_size,
        )  # fmt: skip
        job = svc.store.claim_video_job(g.result.job_id)
        if job is None:  # a server's worker took it first
            raise fail(f"job {g.result.job_id} is being run elsewhere; read it over HTTP")
        with tqdm(total=100, desc="video", unit="%", disable=json_out) as bar:

            def progress(done: float) -> None:
                bar.update(round(done * 100) - bar.n)

            job = svc.run_video_job(job, on_progress=progress)
            bar.update(100 - bar.n)
        page = svc.get_video_search(ctx, job.job_id, limit=1000).result
    body = {**page.to_dict(), "decision": decision_of(g)}
    if json_out:
        print_json(body)
    else:
        _print(page)
    if job.status == "withheld":
        if not json_out:
            typer.echo(
                f"held for review as lead {job.lead_id}: two reviewers of your organization "
                "must confirm before you see the matches",
                err=True,
            )
        raise typer.Exit(3)
    if job.status != "succeeded":
        raise fail(f"{job.error_code}: {job.error_message}")


def _print(page: VideoSearchPage) -> None:
    job = page.job
    tracks = (job.result or {}).get("tracks") or []
    title = f"{job.job_id}: {job.status}, {len(tracks)} track(s)"
    table = Table(title=title)
    for col in ("track", "first (s)", "last (s)", "samples", "face id", "external id", "sim."):
        table.add_column(col)
    for t in tracks:
        matches = t.get("matches") or [None]
        for m in matches:
            table.add_row(
                str(t["index"]), f"{t['first_timestamp_ms'] / 1000:.1f}",
                f"{t['last_timestamp_ms'] / 1000:.1f}", str(t["samples"]),
                m["face"]["face_id"] if m else "", (m["face"]["external_image_id"] or "")
                if m else "", f"{m['similarity']:.2f}" if m else "",
            )  # fmt: skip
    console.print(table)
