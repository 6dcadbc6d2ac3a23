"""The store's CLI end to end on the Congress portraits: collection, index, search, faces, users."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli.app import app

runner = CliRunner()


def run(*args: str, home: Path, ok: bool = True):  # noqa: ANN201
    """In-process (fast); the durability test runs the real subprocess."""
    result = runner.invoke(app, list(args), env={"FACELEDGER_HOME": str(home)})
    result.returncode = result.exit_code
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_collection_index_search_users(tmp_path: Path, portraits: list[Path]) -> None:
    home = tmp_path / "home"
    no_key = run("collection", "create", "people", home=home, ok=False)
    assert no_key.returncode == 1 and "admin init" in no_key.stderr
    run("admin", "init", home=home)
    run("collection", "create", "people", home=home)
    if not os.environ.get("FACELEDGER_DATABASE_URL"):
        assert (home / "faceledger.sqlite3").exists(), "FACELEDGER_HOME decides where data lives"
    dup = run("collection", "create", "people", home=home, ok=False)
    assert (
        dup.returncode == 1 and dup.stderr.startswith("error: ") and "Traceback" not in dup.stderr
    )
    folder = portraits[0].parent
    refused = run("index", "people", str(folder), "--workers", "1", home=home, ok=False)
    assert refused.returncode == 1 and "consent" in refused.stderr
    index = ("index", "people", str(folder), "--json", "--workers", "1", "--consent", "c-1")
    out = run(*index, "--external-id", "stem", home=home)
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines[-1]["summary"]["indexed_faces"] == len(portraits)
    ids = {x["external_image_id"]: x["face_records"][0]["face_id"] for x in lines[:-1]}
    again = run(*index, home=home)
    assert json.loads(again.stdout.splitlines()[-1])["summary"]["skipped"] == len(portraits)

    why = ("--purpose", "photo-organization", "--case-ref", "album-1")
    no_purpose = run("search", "people", str(portraits[2]), home=home, ok=False)
    assert "purpose" in no_purpose.stderr
    found = json.loads(run("search", "people", str(portraits[2]), *why, "--json", home=home).stdout)
    matches = found["searches"][0]["matches"]
    assert [m["face"]["face_id"] for m in matches] == [ids[portraits[2].stem]]
    assert matches[0]["similarity"] == 100.0
    human = run("search", "people", str(portraits[2]), *why, home=home).stdout
    assert ids[portraits[2].stem] in human
    assert found["search_mode"] == "exact"
    approx = run("search", "people", str(portraits[2]), *why, "--approximate", home=home).stdout
    assert ids[portraits[2].stem] in approx and "approximate" in approx

    desc = json.loads(run("collection", "describe", "people", "--json", home=home).stdout)
    assert desc["face_count"] == len(portraits) and desc["model_id"]
    listing = json.loads(run("collection", "list", "--json", home=home).stdout)
    assert [c["collection_id"] for c in listing["collections"]] == ["people"]

    page = json.loads(run("faces", "list", "people", "--limit", "4", "--json", home=home).stdout)
    rest = run("faces", "list", "people", "--json", "--next-token", page["next_token"], home=home)
    listed = [f["face_id"] for f in page["faces"] + json.loads(rest.stdout)["faces"]]
    assert sorted(listed) == sorted(ids.values())

    stem = portraits[1].stem
    run("user", "create", "people", "u1", home=home)
    assoc = run(
        "user", "associate", "people", "u1", ids[stem], "nope", "--json", home=home, ok=False
    )
    assert assoc.returncode == 1, "an id that could not be associated is a failure"
    assert json.loads(assoc.stdout)["associated_faces"] == [ids[stem]]
    assert json.loads(assoc.stdout)["decision"]["rule"] == "face-service"
    unknown = run("user", "associate", "people", "u1", "nope", home=home, ok=False)
    assert unknown.returncode == 1 and "associated 0 face(s)" in unknown.stdout
    gone = run("faces", "delete", "people", "no-such-face", home=home, ok=False)
    assert gone.returncode == 1 and "not found: no-such-face" in gone.stderr
    users = json.loads(run("user", "list", "people", "--json", home=home).stdout)["users"]
    assert users == [{"user_id": "u1", "face_count": 1, "created_at": users[0]["created_at"]}]
    hit = run("user", "search", "people", "--image", str(portraits[1]), *why, "--json", home=home)
    assert [m["user_id"] for m in json.loads(hit.stdout)["user_matches"]] == ["u1"]
    run("user", "disassociate", "people", "u1", ids[stem], home=home)
    run("user", "delete", "people", "u1", home=home)

    run("faces", "delete", "people", ids[stem], home=home)
    desc = json.loads(run("collection", "describe", "people", "--json", home=home).stdout)
    assert desc["face_count"] == len(portraits) - 1
    run("collection", "delete", "people", "--yes", home=home)
    missing = run("collection", "describe", "people", home=home, ok=False)
    assert missing.returncode == 1 and "not found" in missing.stderr

    log = run("audit-log", "verify", home=home)
    assert "intact" in log.stdout


def test_cli_is_governed_like_http(tmp_path: Path, portraits: list[Path]) -> None:
    """A law-enforcement CLI principal: moratorium refusal with the reason, then a lead."""
    home = tmp_path / "home"
    run("admin", "init", "--actor-class", "law-enforcement", home=home)
    again = run("admin", "init", home=home, ok=False)
    assert again.returncode == 1 and "already initialized" in again.stderr
    today = __import__("datetime").date.today().isoformat()
    case = ("--case-ref", "MP-1", "--authorization-ref", "W-1", "--authorization-date", today)
    run("collection", "create", "people", home=home)
    run("index", "people", str(portraits[0]), "--workers", "1", "--purpose", "missing-person",
        *case, home=home)  # fmt: skip
    refused = run("search", "people", str(portraits[0]), "--purpose", "criminal-investigation",
                  *case, home=home, ok=False)  # fmt: skip
    assert refused.returncode == 1 and "moratorium since 2020-06-10" in refused.stderr
    held = run("search", "people", str(portraits[0]), "--purpose", "missing-person", *case,
               "--json", home=home, ok=False)  # fmt: skip
    assert held.returncode == 3
    out = json.loads(held.stdout)
    assert out["status"] == "pending" and out["lead"]["results"] is None
    assert out["rule"] == "law-enforcement-identification"
    bad_key = run("collection", "list", "--api-key", "flk_nope", home=home, ok=False)
    assert bad_key.returncode == 1 and "API key" in bad_key.stderr
    lead = out["lead"]["id"]
    keys = []
    for name in ("r1", "r2"):
        run("admin", "create-account", "local", name, "--role", "reviewer", home=home)
        keys.append(run("admin", "create-key", f"local/{name}", home=home).stdout.strip())
    queue = json.loads(run("leads", "list", "--review", "--api-key", keys[0], "--json",
                           home=home).stdout)  # fmt: skip
    assert [x["id"] for x in queue] == [lead] and queue[0]["results"]
    mine = json.loads(run("leads", "show", lead, "--json", home=home).stdout)
    assert mine["status"] == "pending" and mine["results"] is None
    run("leads", "confirm", lead, "--note", "same person", "--api-key", keys[0], home=home)
    twice = run("leads", "confirm", lead, "--api-key", keys[0], home=home, ok=False)
    assert twice.returncode == 1 and "second reviewer" in twice.stderr
    run("leads", "confirm", lead, "--api-key", keys[1], home=home)
    mine = json.loads(run("leads", "show", lead, "--json", home=home).stdout)
    assert mine["status"] == "released" and mine["results"][0]["similarity"] == 100
    assert "intact" in run("audit-log", "verify", home=home).stdout


def test_bulk_index_decides_first(tmp_path: Path, portraits: list[Path]) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    run("collection", "create", "people", home=home)
    folder = str(portraits[0].parent)
    # without consent: one denial, the run stops, nothing is embedded or stored
    refused = run("index", "people", folder, "--workers", "1", home=home, ok=False)
    assert refused.returncode == 1 and refused.stderr.count("error: ") == 1
    assert "stopped: the policy refuses" in refused.stderr


def test_reindexing_after_faces_delete_indexes_again(tmp_path: Path, portraits: list[Path]) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    run("collection", "create", "people", home=home)
    index = ("index", "people", str(portraits[0]), "--json", "--consent", "c-1")
    first = json.loads(run(*index, home=home).stdout.splitlines()[0])
    (face_id,) = [f["face_id"] for f in first["face_records"]]
    run("faces", "delete", "people", face_id, home=home)
    again = json.loads(run(*index, home=home).stdout.splitlines()[0])
    assert again["skipped"] is False and len(again["face_records"]) == 1


def test_search_prints_expected_false_candidates_and_honours_age_bands(
    tmp_path: Path, portraits: list[Path]
) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    run("collection", "create", "people", home=home)
    for p in portraits[:2]:
        run("index", "people", str(p), "--consent", "c-1", "--workers", "1", home=home)
    why = ("--purpose", "photo-organization", "--case-ref", "album-1")
    human = run("search", "people", str(portraits[0]), *why, home=home).stdout
    assert "expected false candidates unknown: no fairness audit on file" in human
    # an audit summary in the filed format (these rates are the test's, not a measurement)
    grid = [{"similarity": s, "overall": {"fmr": 0.01}, "worst_group": None, "age_bands": {}}
            for s in (90.0, 99.0, 99.9)]  # fmt: skip
    summary = tmp_path / "error_rates.json"
    summary.write_text(json.dumps({"format": 1, "model_id": "dlib-resnet-v1+tta6",
                                   "audited_at": "2026-12-01T00:00:00Z", "audit_id": "audit_t",
                                   "datasets": ["manifest"], "grid": grid}))  # fmt: skip
    run("fairness", "file", str(summary), "--data-dir", str(home), home=home)
    human = run("search", "people", str(portraits[0]), *why, home=home).stdout
    assert "0.02 false candidates expected among 2 enrolled faces at similarity 99.9" in human
    found = json.loads(run("search", "people", str(portraits[0]), *why, "--json", home=home).stdout)
    assert found["error_rates"]["expected_false_candidates"] == 0.02
    child = run(
        "search", "people", str(portraits[0]), *why, "--age-band", "0-4", home=home, ok=False
    )
    assert child.returncode == 1 and "age band 0-4" in child.stderr
