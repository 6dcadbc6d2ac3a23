"""``faceledger fairness audit``: the demographic audit on the shared datasets or a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt
from faceledger.cli.output import handle_errors, print_json

app = typer.Typer(
    help="Demographic fairness audit (NIST FRVT Part 3 style): FMR/FNMR per group.",
    no_args_is_help=True,
)


@app.command("audit")
@handle_errors
def audit_command(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding lfw/, utkface_balanced/, ... (default: $FACELEDGER_DATA "
            "or ../shared/data)."
        ),
    ] = None,
    datasets: Annotated[
        str,
        typer.Option(
            help="Comma-separated: lfw, utkface, children, congress, or manifest .csv "
            "files (columns path, subject, any group columns)."
        ),
    ] = "lfw,utkface,children,congress",
    out: Annotated[Path, typer.Option(help="Output folder for the report.")] = Path(
        "fairness-audit"
    ),
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap replicates (subjects resampled).")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Random seed for the bootstrap.")] = 0,
    one_to_many: Annotated[
        bool, typer.Option("--one-to-many/--no-one-to-many", help="Run the 1:N Congress search.")
    ] = True,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Also fit the label-free score normalisation on half the subjects of each "
            "dataset (any manifest too) and print its effect on the other half: FMR per group "
            "at similarity 99 raw vs normalised, and LFW TAR at FAR 1e-3.",
        ),
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Processes for embedding.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    file: Annotated[
        bool,
        typer.Option(
            "--file/--no-file",
            help="File the measured error rates in the data folder, where 1:N searches of the "
            "model read them (expected false candidates, age bands).",
        ),
    ] = True,
    data_dir: DataDirOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Audit a model added by 'faceledger model add' (its name or user:NAME; it needs "
            "its --calibration) instead of the shipped network; filed under its model id."
        ),
    ] = None,
    scoring: Annotated[
        str | None,
        typer.Option(
            help="Audit a normalised scoring fitted by 'faceledger model normalize' (its id or "
            "digest; of the shipped network or of --model); filed under its id."
        ),
    ] = None,
) -> None:
    """Measure FMR and FNMR per demographic group at one global threshold; write JSON, CSV and
    a self-contained HTML report to --out, and file the error rates for the model's searches."""
    from faceledger.fairness import audit, write_report
    from faceledger.fairness.onfile import file_summary, summarize
    from faceledger.settings import data_dir as resolve_data_dir

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    user_model = None
    if model is not None:
        from faceledger.engine.user_models import get

        user_model = get(resolve_data_dir(data_dir), model)
    fitted = None
    if scoring is not None:
        from faceledger.engine.scoring import load as load_scoring

        fitted = load_scoring(resolve_data_dir(data_dir), scoring)
    log = (lambda m: typer.echo(m, err=True)) if json_out else typer.echo
    result = audit(
        names,
        data=data,
        bootstrap=bootstrap,
        seed=seed,
        one_to_many=one_to_many,
        calibrate=calibrate,
        workers=workers,
        log=log,
        user_model=user_model,
        scoring=fitted,
    )
    paths = write_report(result, out)
    import json

    rates = summarize(result)
    paths["error_rates"] = out / "error_rates.json"
    paths["error_rates"].write_text(json.dumps(rates, indent=1))
    if file:
        paths["filed"] = file_summary(resolve_data_dir(data_dir), rates)

    summary = json.loads(paths["json"].read_text())["summary"]
    if json_out:
        print_json({"outputs": {k: str(v) for k, v in paths.items()}, "summary": summary})
        return
    typer.echo("")
    for line in summary:
        typer.echo(f"- {line}")
    typer.echo("")
    for key, path in paths.items():
        typer.echo(f"{key}: {path}")


@app.command("file")
@handle_errors
def file_command(
    rates: Annotated[
        Path,
        typer.Argument(help="error_rates.json written by `faceledger fairness audit --out`."),
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """File an audit's error rates (run elsewhere) in the data folder, for its model's searches."""
    import json

    from faceledger.errors import FaceledgerError
    from faceledger.governance.audit_files import file_summary
    from faceledger.settings import data_dir as resolve_data_dir

    try:
        summary = json.loads(rates.read_text())
        path = file_summary(resolve_data_dir(data_dir), summary)
    except (OSError, ValueError) as exc:
        raise FaceledgerError(
            f"{rates}: not an error_rates.json of `faceledger fairness audit` ({exc})",
            code="invalid_argument",
        ) from exc
    typer.echo(f"filed audit {summary['audit_id']} of {summary['model_id']}: {path}")
