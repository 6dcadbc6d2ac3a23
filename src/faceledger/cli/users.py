"""``faceledger user``: groups of faces of one person, created, associated and searched as one.

Like every face command, each goes through ``FaceService`` as the account of an API key (see
``faceledger.cli.principal``): decided by the policy, recorded in the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.collections import (
    CollectionArg,
    LimitOpt,
    ThresholdOpt,
    TokenOpt,
)
from faceledger.cli.output import decision_of, fail, handle_errors, print_json, withheld_exit
from faceledger.cli.principal import DECLARED, Who, declares_request, open_service
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import DEFAULT_USER_AGGREGATION, USER_AGGREGATIONS, ResultsWithheld

user_app = typer.Typer(help="Users: groups of faces of one person, searchable as one.")

# ---------------------------------------------------------------------- users
UserArg = Annotated[str, typer.Argument(help="User id.", show_default=False)]
FaceIdsArg = Annotated[list[str], typer.Argument(help="Face ids (1–100).")]


@user_app.command("create")
@handle_errors
@declares_request
def user_create(
    collection: CollectionArg,
    user_id: UserArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Create a user in a collection."""
    with open_service(data_dir, who) as (svc, ctx):
        record = svc.create_user(ctx, collection, user_id).result
    print_json(record.to_dict()) if json_out else typer.echo(f"created user {user_id}")


def _association(verb: str, collection, user_id, face_ids, data_dir, who, json_out) -> None:  # noqa: ANN001
    with open_service(data_dir, who) as (svc, ctx):
        method = svc.associate_faces if verb == "associated" else svc.disassociate_faces
        g = method(ctx, collection, user_id, face_ids)
    result = g.result
    if json_out:
        print_json({**result.to_dict(verb), "decision": decision_of(g)})
    else:
        typer.echo(f"{verb} {len(result.succeeded)} face(s) with user {user_id}")
        for face_id, reason in result.unsuccessful:
            typer.echo(f"not {verb}: {face_id}: {reason}", err=True)
    if result.unsuccessful:
        raise typer.Exit(1)


@user_app.command("associate")
@handle_errors
@declares_request
def user_associate(
    collection: CollectionArg,
    user_id: UserArg,
    face_ids: FaceIdsArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Associate 1–100 faces to a user."""
    _association("associated", collection, user_id, face_ids, data_dir, who, json_out)


@user_app.command("disassociate")
@handle_errors
@declares_request
def user_disassociate(
    collection: CollectionArg,
    user_id: UserArg,
    face_ids: FaceIdsArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Remove faces from a user (the faces stay in the collection)."""
    _association("disassociated", collection, user_id, face_ids, data_dir, who, json_out)


@user_app.command("list")
@handle_errors
@declares_request
def user_list(
    collection: CollectionArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    limit: LimitOpt = 100,
    next_token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Users of a collection, by id."""
    with open_service(data_dir, who) as (svc, ctx):
        page = svc.list_users(ctx, collection, limit=limit, next_token=next_token).result
    if json_out:
        print_json({"users": [u.to_dict() for u in page.items], "next_token": page.next_token})
        return
    for u in page.items:
        typer.echo(f"{u.user_id}\t{u.face_count} faces\t{u.created_at}")
    if page.next_token:
        typer.echo(f"next page: --next-token {page.next_token}")


@user_app.command("delete")
@handle_errors
@declares_request
def user_delete(
    collection: CollectionArg,
    user_id: UserArg,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Delete a user; its faces stay in the collection."""
    with open_service(data_dir, who) as (svc, ctx):
        record = svc.delete_user(ctx, collection, user_id).result
    if json_out:
        print_json({"deleted": record.to_dict()})
    else:
        typer.echo(f"deleted user {user_id} ({record.face_count} faces disassociated)")


@user_app.command("search")
@handle_errors
@declares_request
def user_search(
    collection: CollectionArg,
    image: Annotated[
        Path | None, typer.Option(help="Search with this image's largest face.")
    ] = None,
    face_id: Annotated[str | None, typer.Option(help="Search with a stored face.")] = None,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    threshold: ThresholdOpt = DEFAULT_SEARCH_THRESHOLD,
    max_users: Annotated[int, typer.Option(min=1, max=4096, help="Most users.")] = 10,
    aggregation: Annotated[
        str, typer.Option(help=f"How a user's faces are scored: {', '.join(USER_AGGREGATIONS)}.")
    ] = DEFAULT_USER_AGGREGATION,
    json_out: JsonOpt = False,
) -> None:
    """Users matching a face (give --image or --face-id)."""
    if (image is None) == (face_id is None):
        raise fail("give exactly one of --image or --face-id", 2)
    with open_service(data_dir, who) as (svc, ctx):
        try:
            g = svc.search_users(
                ctx, collection, face_id=face_id, image=image, threshold=threshold,
                max_users=max_users, aggregation=aggregation,
            )  # fmt: skip
        except ResultsWithheld as exc:
            raise withheld_exit(exc, json_out) from None
    result = g.result
    if json_out:
        print_json({**result.to_dict(), "decision": decision_of(g)})
        return
    if result.searched_face is None:
        typer.echo(f"no face found in {image}")
        raise typer.Exit(1)
    if not result.matches:
        typer.echo(f"no user at similarity ≥ {result.threshold:g}")
    for m in result.matches:
        typer.echo(f"{m.user_id}\tsimilarity {m.similarity:.2f}\t({m.face_count} faces)")
