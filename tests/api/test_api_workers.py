"""``faceledger serve --workers 2`` for real: two processes on one data folder behave as one
server. Every step that must see the other process's work is sent on a connection to a known
process (``X-Faceledger-Worker``, turned on by the ``served`` helper), so each test fails if the
state it relies on were kept per process."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import httpx
import pytest
from api_helpers import missing_person, upload
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from typer.testing import CliRunner

import pg_testserver
from faceledger.api.serving import ServeOptions, build, prepare
from faceledger.cli.app import app as cli
from faceledger.console.sessions import COOKIE
from faceledger.governance import GovernanceDB, Principals
from faceledger.governance.auditlog import AuditLog
from served import WORKER_HEADER, Served
from testdata import PORTRAITS

RESEARCH = {"X-Purpose": "research", "X-Case-Ref": "R-1"}


class Site:
    def __init__(self, root: Path, url: str | None) -> None:
        self.root = root
        self.url = url  # PostgreSQL's, or None: the SQLite files in the folder
        self.env = {**os.environ, "FACELEDGER_HOME": str(root)}
        self.env["FACELEDGER_DATABASE_URL"] = url or ""  # empty: SQLite
        self.keys: dict[str, str] = {}
        self.sigv4: tuple[str, str] = ("", "")
        self.server: Served

    def auth(self, who: str, **declared: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **declared}

    def pinned(self, pid: str | None = None) -> closing[httpx.Client]:
        """A client whose (kept-alive) connection is served by process ``pid`` (by any if
        None)."""
        for _ in range(200):
            client = httpx.Client(base_url=self.server.base, timeout=120)
            if pid is None or client.get("/v1/health").headers[WORKER_HEADER] == pid:
                return closing(client)
            client.close()
        raise AssertionError(f"no connection reached process {pid}")

    def db(self) -> GovernanceDB:
        return GovernanceDB(self.root / "governance.sqlite3", url=self.url)

    def audit(self) -> list[dict]:
        db = self.db()
        try:
            return [r.body for r in AuditLog(db).records()]
        finally:
            db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory, pg_base) -> Iterator[Site]:
    """Two processes on one folder: SQLite files, or one PostgreSQL database."""
    root = tmp_path_factory.mktemp("workers") / "data"
    url = pg_testserver.fresh_database(pg_base) if request.param == "postgresql" else None
    site = Site(root, url)
    db = site.db()
    principals = Principals(db)
    lab = principals.create_org("Lab", "research")
    site.keys["lab"] = principals.create_key(
        principals.create_account(lab.id, "analyst", ["operator"]).id
    ).api_key
    police = principals.create_org("Police", "law-enforcement")
    for name, roles in [("officer", ["operator"]), ("sergeant", ["reviewer"]),
                        ("inspector", ["reviewer"])]:  # fmt: skip
        account = principals.create_account(police.id, name, roles)
        site.keys[name] = principals.create_key(account.id).api_key
    db.close()
    bound = ["--purpose", "research", "--case-ref", "R-1"]
    out = CliRunner().invoke(
        cli, ["admin", "create-key", "Lab/analyst", "--sigv4", "--json", *bound], env=site.env
    )
    assert out.exit_code == 0, out.output
    made = json.loads(out.stdout)
    site.sigv4 = (made["access_key_id"], made["secret_access_key"])
    site.server = Served(site.env, "--video-workers", "0", workers=2)
    try:
        assert len(site.server.pids) == 2
        yield site
    finally:
        output = site.server.stop()
        assert "Traceback" not in output, output


def test_concurrent_clients_on_two_processes_lose_nothing(site: Site) -> None:
    h = site.auth("lab", **RESEARCH)
    with site.pinned() as c:
        assert c.post("/v1/collections", json={"collection_id": "c"}, headers=h).status_code == 201
    pids = sorted(site.server.pids)
    done: list[tuple[str, str, int, dict]] = []  # (request id, pid, status, body)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            with site.pinned(pids[i % 2]) as c:
                for j in range(3):
                    image = PORTRAITS[(i // 2 + j) % len(PORTRAITS)]  # the same image on both
                    if j % 2 == 0:
                        r = c.post("/v1/collections/c/faces", files=upload(image),
                                   data={"consent": f"c-{i}-{j}"}, headers=h)  # fmt: skip
                    else:
                        r = c.post("/v1/collections/c/search", files=upload(image),
                                   data={"threshold": 0}, headers=h)  # fmt: skip
                    with lock:
                        done.append((r.headers["x-request-id"], r.headers[WORKER_HEADER],
                                     r.status_code, r.json()))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(done) == 12 and {s for _, _, s, _ in done} <= {200, 201}, done
    assert {pid for _, pid, _, _ in done} == set(pids), "both processes served"

    indexed = [f["face_id"] for _, _, s, b in done if s == 201 for f in b["face_records"]]
    assert len(indexed) == 8 and len(set(indexed)) == 8, "one new face per index request"
    listed: list[str] = []
    token = None
    with site.pinned() as c:
        while True:
            params = {"limit": 5, **({"next_token": token} if token else {})}
            page = c.get("/v1/collections/c/faces", params=params, headers=h).json()
            listed += [f["face_id"] for f in page["faces"]]
            if not (token := page["next_token"]):
                break
        count = c.get("/v1/collections/c", headers=h).json()["collection"]["face_count"]
    assert sorted(listed) == sorted(indexed) and count == 8, "no lost update"
    by_image: dict[str, set[str]] = {}
    for _, _, status, body in done:
        if status == 201:
            by_image.setdefault(body["image_sha256"], set()).update(
                f["face_id"] for f in body["face_records"]
            )
    image = next(p for p in PORTRAITS if sha256(p.read_bytes()).hexdigest() in by_image)
    for pid in pids:  # each process's index follows what the other committed
        with site.pinned(pid) as c:
            r = c.post("/v1/collections/c/search", files=upload(image),
                       data={"threshold": 90, "max_results": 20}, headers=h)  # fmt: skip
            assert r.headers[WORKER_HEADER] == pid
            (found,) = r.json()["searches"]
            done.append((r.headers["x-request-id"], pid, r.status_code, r.json()))
        wanted = by_image[sha256(image.read_bytes()).hexdigest()]
        assert {m["face"]["face_id"] for m in found["matches"]} == wanted

    ids = {rid for rid, _, _, _ in done}
    records = Counter(r["request_id"] for r in site.audit() if r.get("request_id") in ids)
    assert set(records) == ids and set(records.values()) == {1}, "one record per request"
    verify = CliRunner().invoke(cli, ["audit-log", "verify"], env=site.env)
    assert verify.exit_code == 0 and "intact" in verify.stdout, verify.output


def test_a_client_request_token_is_done_once_across_processes(site: Site) -> None:
    """Rekognition CreateUser retried at once on both processes with one ClientRequestToken:
    every answer is the first one's, and the user is created once."""
    with site.pinned() as c:
        r = c.post("/v1/collections", json={"collection_id": "tokens"},
                   headers=site.auth("lab", **RESEARCH))  # fmt: skip
        assert r.status_code == 201, r.text

    def signed() -> tuple[dict, bytes]:
        body = {"CollectionId": "tokens", "UserId": "u-1", "ClientRequestToken": "retry-1"}
        req = AWSRequest(
            method="POST", url=site.server.base + "/", data=json.dumps(body).encode(),
            headers={"X-Amz-Target": "RekognitionService.CreateUser",
                     "Content-Type": "application/x-amz-json-1.1",
                     "amz-sdk-invocation-id": str(uuid.uuid4())},  # each signature its own
        )  # fmt: skip
        SigV4Auth(Credentials(*site.sigv4), "rekognition", "us-east-1").add_auth(req)
        return dict(req.headers.items()), req.body

    pids = sorted(site.server.pids)
    answers: list[tuple[str, int, str]] = []
    start = threading.Barrier(6)

    def retry(i: int) -> None:
        with site.pinned(pids[i % 2]) as c:
            headers, body = signed()
            start.wait()
            r = c.post("/", headers=headers, content=body)
            answers.append((r.headers[WORKER_HEADER], r.status_code, r.headers["x-request-id"]))

    threads = [threading.Thread(target=retry, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for _, status, _ in answers] == [200] * 6, answers
    assert {pid for pid, _, _ in answers} == set(pids)
    ids = {rid for _, _, rid in answers}
    records = [r for r in site.audit() if r.get("request_id") in ids]
    assert len(records) == 6 and {r["operation"] for r in records} == {"users.create"}
    replayed = sorted(bool(r["outcome"].get("replayed")) for r in records)
    assert replayed == [False] + [True] * 5, "created once, the retries answered from the token"
    with site.pinned() as c:
        users = c.get("/v1/collections/tokens/users", headers=site.auth("lab", **RESEARCH))
    assert [u["user_id"] for u in users.json()["users"]] == ["u-1"]


def test_two_reviewers_on_two_processes(site: Site) -> None:
    today = datetime.now(UTC).date()
    officer = site.auth("officer", **missing_person(today))
    with site.pinned() as c:
        r = c.post("/v1/collections", json={"collection_id": "wanted"}, headers=officer)
        assert r.status_code == 201, r.text
        r = c.post("/v1/collections/wanted/faces", files=upload(PORTRAITS[1]),
                   data={"consent": "c-1"}, headers=officer)  # fmt: skip
        assert r.status_code == 201, r.text
        r = c.post("/v1/collections/wanted/search", files=upload(PORTRAITS[1]), headers=officer)
        assert r.status_code == 202, r.text
    lead = r.json()["lead"]["id"]
    first, second = sorted(site.server.pids)
    with site.pinned(first) as a, site.pinned(second) as b:
        r = a.post(f"/v1/leads/{lead}/confirm", headers=site.auth("sergeant"))
        assert r.status_code == 200 and r.headers[WORKER_HEADER] == first
        assert r.json()["lead"]["status"] == "pending", "one reviewer is not enough"
        again = b.post(f"/v1/leads/{lead}/confirm", headers=site.auth("sergeant"))
        assert again.headers[WORKER_HEADER] == second
        assert again.status_code == 409, "the other process knows the first review"
        held = b.get(f"/v1/leads/{lead}", headers=officer).json()["lead"]
        assert held["status"] == "pending" and held["results"] is None
        r = b.post(f"/v1/leads/{lead}/confirm", headers=site.auth("inspector"))
        assert r.status_code == 200 and r.headers[WORKER_HEADER] == second
        assert r.json()["lead"]["status"] == "released", "two reviewers, two processes"
        released = a.get(f"/v1/leads/{lead}", headers=officer)
        assert released.headers[WORKER_HEADER] == first
        assert released.json()["lead"]["results"], released.text


def test_a_console_session_holds_on_every_process(site: Site) -> None:
    first, second = sorted(site.server.pids)
    with site.pinned(first) as a, site.pinned(second) as b:
        form = a.get("/console/signin")
        token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
        r = a.post("/console/signin", data={"api_key": site.keys["sergeant"],
                                            "signin_token": token})  # fmt: skip
        assert r.status_code == 303 and r.headers[WORKER_HEADER] == first, r.text
        sid = a.cookies[COOKIE]
        b.cookies.set(COOKIE, sid, path="/console")
        page = b.get("/console/")
        assert page.status_code == 200 and page.headers[WORKER_HEADER] == second, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        out = b.post("/console/signout", data={"csrf": csrf})  # a token of the other process
        assert out.status_code == 303 and out.headers["location"].endswith("/console/signin")
        a.cookies.set(COOKIE, sid, path="/console")
        gone = a.get("/console/")
        assert gone.headers[WORKER_HEADER] == first
        assert gone.status_code == 303 and "/console/signin" in gone.headers["location"]
    db = site.db()
    rows = db.connection().execute("SELECT sid_sha256, key_sealed FROM console_sessions").fetchall()
    db.close()
    for digest, sealed in rows:  # neither the id nor the key in the database
        assert sid not in digest and site.keys["sergeant"].encode() not in sealed


def test_a_process_started_after_the_policy_changed_refuses_to_serve(tmp_path) -> None:
    """uvicorn replaces a dead process with a new one, which reads the policy file again: it
    must not decide by another policy than the processes started with it."""
    import faceledger.governance

    options = ServeOptions(data_dir=str(tmp_path), retention_every=0, video_workers=0)
    _, policy = prepare(options)
    options = replace(options, policy_sha256=policy)
    build(options).state.close()  # the same policy: it serves
    default = Path(faceledger.governance.__file__).parent / "default_policy.yaml"
    (tmp_path / "policy.yaml").write_text(default.read_text() + "\n# edited\n")
    with pytest.raises(RuntimeError, match="policy file changed"):
        build(options)
