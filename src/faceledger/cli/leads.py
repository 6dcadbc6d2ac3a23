"""``faceledger leads``: pending leads, as a requester or a reviewer, through the same service as
``GET/POST /v1/leads``. Needs the key of an account (``--api-key`` or ``$FACELEDGER_API_KEY``)."""

from __future__ import annotations

from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import handle_errors, print_json
from faceledger.cli.principal import ApiKeyOpt, Who, open_governance
from faceledger.governance.review import Lead

app = typer.Typer(name="leads", help="Search results held for two reviewers.", no_args_is_help=True)
LeadArg = Annotated[str, typer.Argument(help="Lead id (lead_...).")]
NoteOpt = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


def _show(lead: Lead) -> None:
    reviews = ", ".join(f"{r.verdict} by {r.reviewer_id}" for r in lead.reviews) or "none"
    typer.echo(f"{lead.id}\t{lead.status}\tcase {lead.case_ref}\treviews: {reviews}")
    for row in lead.results or []:
        typer.echo("\t" + "  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


@app.command("list")
@handle_errors
def list_leads(
    review: Annotated[
        bool, typer.Option("--review", help="Leads waiting for my review (reviewers).")
    ] = False,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """My own leads, or with --review the leads waiting for my review."""
    with open_governance(data_dir, Who(api_key)) as (svc, ctx):
        leads = (svc.pending_leads(ctx) if review else svc.my_leads(ctx)).result
    if json_out:
        print_json([lead.to_dict() for lead in leads])
        return
    for lead in leads:
        _show(lead)


@app.command("show")
@handle_errors
def show(
    lead_id: LeadArg, api_key: ApiKeyOpt = None, data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """A lead; its results once released (reviewers see them to review)."""
    with open_governance(data_dir, Who(api_key)) as (svc, ctx):
        lead = svc.get_lead(ctx, lead_id).result
    print_json(lead.to_dict()) if json_out else _show(lead)


def _verdict(verdict: str, lead_id: str, note, api_key, data_dir, json_out) -> None:  # noqa: ANN001
    with open_governance(data_dir, Who(api_key)) as (svc, ctx):
        lead = svc.review(ctx, lead_id, verdict, note).result
    print_json(lead.to_dict()) if json_out else _show(lead)


@app.command("confirm")
@handle_errors
def confirm(
    lead_id: LeadArg, note: NoteOpt = None, api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None, json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """Confirm a lead (reviewers; a second reviewer's confirmation releases it)."""
    _verdict("confirm", lead_id, note, api_key, data_dir, json_out)


@app.command("reject")
@handle_errors
def reject(
    lead_id: LeadArg, note: NoteOpt = None, api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None, json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """Reject a lead: it is closed for good."""
    _verdict("reject", lead_id, note, api_key, data_dir, json_out)
