"""``faceledger report accountability``: the organization's accountability report.

One governed request (``report.accountability``, auditors and administrators by the default
policy) as the account of an API key; the report is computed from the organization's audit
records of the period, the policy and the latest fairness audit, and written as
``report.json`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt, log_local
from faceledger.cli.output import decision_of, fail, handle_errors, print_json
from faceledger.cli.principal import (
    DECLARED,
    Who,
    declares_request,
    open_runtime,
    open_service,
)
from faceledger.settings import data_dir as resolve_data_dir

app = typer.Typer(help="Reports for the public: the accountability report.", no_args_is_help=True)

FAIRNESS_FOLDERS = ("fairness-audit",)
"""Where ``faceledger fairness audit`` writes by default (its --out), looked for in the data
folder and the current folder when --fairness is not given."""


def find_fairness(given: Path | None, data_dir: Path | None) -> Path | None:
    """The ``audit.json`` to report: ``given`` (the file or its folder), else the newest of
    ``<data dir>/fairness-audit/audit.json`` and ``./fairness-audit/audit.json``."""
    if given is not None:
        path = given / "audit.json" if given.is_dir() else given
        if not path.is_file():
            raise fail(f"no fairness audit at {path}: give the audit.json of 'fairness audit'")
        return path
    found = [
        base / folder / "audit.json"
        for base in (resolve_data_dir(data_dir), Path.cwd())
        for folder in FAIRNESS_FOLDERS
    ]
    found = [p for p in found if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def load_fairness(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError:
        raise fail(f"{path} is not JSON: give the audit.json of 'fairness audit'") from None
    if not isinstance(data, dict) or "evaluations" not in data:
        raise fail(f"{path} is not a fairness audit (no 'evaluations'): give its audit.json")
    data["sha256"] = hashlib.sha256(raw).hexdigest()
    data["source"] = str(path)
    return data


@app.command("accountability")
@handle_errors
@declares_request
def accountability(
    start: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD).")
    ],
    end: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html and report.json.")],
    fairness: Annotated[
        Path | None,
        typer.Option(
            "--fairness",
            help="The latest fairness audit: its audit.json or folder (default: the newest "
            "fairness-audit/audit.json in the data folder or here).",
            show_default=False,
        ),
    ] = None,
    feedback: Annotated[
        str | None,
        typer.Option(
            help="How the public gives feedback (contact, address, URL).", show_default=False
        ),
    ] = None,
    deployment: Annotated[
        bool,
        typer.Option(
            "--deployment",
            help="The whole deployment, every organization (host access to the data folder; "
            "no API key; recorded as a host command).",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Write the accountability report of your organization for a period (an auditor's or an
    administrator's API key): uses, decisions by rule, reviews, data held and purged, consent,
    per-group error rates and known limitations, the policy in plain language."""
    from faceledger.reports.render import write

    audit = load_fairness(find_fairness(fairness, data_dir))
    decision = None
    if deployment:
        with open_runtime(data_dir) as runtime:
            r = runtime.faces.deployment_report(
                start=start.date(), end=end.date(), fairness=audit, feedback=feedback
            )
            log_local(runtime.db, "report.accountability", None, {
                "scope": "deployment", "period_start": r["period"]["start"],
                "period_end": r["period"]["end"], "fairness_sha256": (audit or {}).get("sha256"),
                "records": r["audit_records"]["count"],
            })  # fmt: skip
    else:
        with open_service(data_dir, who) as (svc, ctx):
            governed = svc.accountability_report(
                ctx, start=start.date(), end=end.date(), fairness=audit, feedback=feedback
            )
        r, decision = governed.result, decision_of(governed)
    paths = write(r, out)
    if json_out:
        print_json({"outputs": {k: str(v) for k, v in paths.items()}, "decision": decision})
        return
    typer.echo(
        f"{r['organization']['name']}, {r['period']['from']} to {r['period']['to']}: "
        f"{r['audit_records']['count']} audit records, {r['uses']['total']} face-service "
        f"requests ({r['uses']['denied']} denied), {r['review']['leads_opened']} leads"
    )
    if audit is None:
        typer.echo("no fairness audit found: the report says the rates are unmeasured", err=True)
    for key, path in paths.items():
        typer.echo(f"{key}: {path}")
