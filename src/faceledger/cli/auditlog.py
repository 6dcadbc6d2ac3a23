"""``faceledger audit-log``: verify the chain, export it, keep anchors, read a tenant's records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt, log_local, open_db
from faceledger.cli.output import handle_errors, print_json
from faceledger.cli.principal import open_runtime
from faceledger.governance.auditlog import Anchor, AuditLog, VerifyReport, verify_export
from faceledger.governance.db import GovernanceDB
from faceledger.governance.errors import NotFoundError
from faceledger.governance.principals import Principals
from faceledger.service.consistency import check_store_against_log

app = typer.Typer(
    name="audit-log",
    help="Verify, export and anchor the tamper-evident audit log.",
    no_args_is_help=True,
)

AnchorOpt = Annotated[
    list[str] | None,
    typer.Option("--anchor", help="SEQ:SHA256 from 'audit-log anchor'; repeatable."),
]
AnchorFileOpt = Annotated[
    Path | None,
    typer.Option("--anchor-file", help="A file of anchors, one SEQ:SHA256 per line."),
]


def _anchors(values: list[str] | None, file: Path | None) -> list[Anchor]:
    anchors = [Anchor.parse(v) for v in values or []]
    if file is not None:
        for line in file.read_text(encoding="utf-8").splitlines():
            token = line.split("#", 1)[0].strip().split()
            if token:
                anchors.append(Anchor.parse(token[0]))
    return anchors


def _tenant(db: GovernanceDB, ref: str | None) -> str | None:
    if ref is None:
        return None
    try:
        return Principals(db).get_org(ref).id
    except NotFoundError:
        return ref


@app.command("verify")
@handle_errors
def verify(
    anchor: AnchorOpt = None,
    anchor_file: AnchorFileOpt = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Check a full JSON-lines export instead of the database."),
    ] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Recompute the hash chain; exit 1 naming each record that was tampered with."""
    anchors = _anchors(anchor, anchor_file)
    if file:
        report: VerifyReport = verify_export(file, anchors)
    else:
        with open_runtime(data_dir) as runtime:  # opening appends what the outbox holds
            report = runtime.auditlog.verify(anchors)
            report.problems.extend(check_store_against_log(runtime.store, runtime.auditlog))
    if json_out:
        print_json(report.to_dict())
    else:
        for w in report.warnings:
            typer.echo(f"warning: {w}", err=True)
        for p in report.problems:
            typer.echo(f"TAMPERED {p}", err=True)
        head = f", head {report.head}" if report.head else ""
        state = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        typer.echo(f"audit log: {report.records} records{head}, {len(anchors)} anchor(s): {state}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", help="The JSON-lines file to write.")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this organization (name or id).")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Export records as JSON lines (a full export can be checked with 'verify --file')."""
    db = open_db(data_dir)
    tenant_id = _tenant(db, tenant)
    log = AuditLog(db)
    log_local(db, "audit.export", tenant_id, {"out": str(out)})
    count = log.export(out, tenant_id)
    head = log.head()
    typer.echo(f"exported {count} records to {out}; the log's head (anchor) is {head}")


@app.command("anchor")
@handle_errors
def anchor(
    append_to: Annotated[
        Path | None,
        typer.Option("--append-to", help="Also append it (with the time) to this file."),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Print the head's SEQ:SHA256. Keep it outside this host to detect a cut or rewritten log."""
    head = AuditLog(open_db(data_dir)).head()
    if head is None:
        typer.echo("the audit log is empty", err=True)
        raise typer.Exit(1)
    typer.echo(str(head))
    if append_to is not None:
        with append_to.open("a", encoding="utf-8") as f:
            f.write(f"{head}  # {datetime.now(UTC).isoformat(timespec='seconds')}\n")


@app.command("read")
@handle_errors
def read(
    tenant: Annotated[str, typer.Option("--tenant", help="Organization name or id.")],
    operation: Annotated[str | None, typer.Option()] = None,
    after: Annotated[int | None, typer.Option(help="Records after this sequence number.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    data_dir: DataDirOpt = None,
) -> None:
    """Print one organization's records as JSON (oldest first, a page at a time)."""
    db = open_db(data_dir)
    tenant_id = _tenant(db, tenant)
    assert tenant_id is not None
    page = AuditLog(db).read(tenant_id, operation=operation, after=after, limit=limit)
    print_json({"records": [r.to_dict() for r in page.records], "next_after": page.next_after})
