"""A real ``faceledger serve`` on a random local port for the Rekognition tests, with accounts,
SigV4 credentials (bound and unbound) and API keys, shared by the test modules of this folder
(fixture ``rekognition_world`` in conftest.py: one server per session)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from typer.testing import CliRunner

import pg_testserver
from faceledger.cli.app import app as cli
from faceledger.governance.db import GovernanceDB
from faceledger.sql.url import database_url
from served import Served

REGION = "us-east-1"
TODAY = datetime.now(UTC).date().isoformat()


class World:
    def __init__(self, home: Path, base: str) -> None:
        self.home = home
        self.base = base
        self.env = {**os.environ, "FACELEDGER_HOME": str(home)}
        self.env["FACELEDGER_DATABASE_URL"] = pg_testserver.world_database()
        self.runner = CliRunner()
        self.keys: dict[str, str] = {}
        self.creds: dict[str, tuple[str, str]] = {}
        self.raw: list[tuple[str, int, bytes]] = []

    def run(self, *args: str) -> str:
        r = self.runner.invoke(cli, list(args), env=self.env)
        assert r.exit_code == 0, r.output
        return r.stdout

    def sigv4(self, name: str, account: str, *bind: str) -> None:
        out = json.loads(self.run("admin", "create-key", account, "--sigv4", "--json", *bind))
        self.creds[name] = (out["access_key_id"], out["secret_access_key"])

    def client(self, name: str, **config):  # noqa: ANN201
        ak, sk = self.creds[name]
        c = boto3.client(
            "rekognition", endpoint_url=self.base, region_name=REGION,
            aws_access_key_id=ak, aws_secret_access_key=sk,
            config=Config(retries={"max_attempts": 2}, **config),
        )  # fmt: skip

        def keep(operation_model, response_dict, **_):  # noqa: ANN001
            self.raw.append((operation_model.name, response_dict["status_code"],
                             response_dict["body"]))  # fmt: skip

        c.meta.events.register("before-parse.rekognition.*", keep)
        return c

    def signed(self, name: str, target: str, body: dict, *, secret: str | None = None):  # noqa: ANN201
        """A raw request signed by botocore's SigV4Auth (not sent yet): (headers, body)."""
        ak, sk = self.creds.get(name, (name, "x" * 40))
        req = AWSRequest(
            method="POST", url=self.base + "/", data=json.dumps(body).encode(),
            headers={"X-Amz-Target": f"RekognitionService.{target}",
                     "Content-Type": "application/x-amz-json-1.1",
                     # as boto3 does: two calls signed in the same second are not one replayed
                     "amz-sdk-invocation-id": str(uuid.uuid4())},
        )  # fmt: skip
        SigV4Auth(Credentials(ak, secret or sk), "rekognition", REGION).add_auth(req)
        return dict(req.headers.items()), req.body

    def post(self, headers: dict, body: bytes) -> httpx.Response:
        return httpx.post(self.base + "/", headers=headers, content=body, timeout=60)

    def v1(self, method: str, path: str, key: str, **kw) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.keys[key]}"}
        return httpx.request(method, f"{self.base}/v1{path}", headers=auth, timeout=60, **kw)

    def check_raw(self) -> set[str]:
        """Validate every 200 answer seen since the last call against its operation's output
        shape in botocore's service model; returns the operations validated."""
        from rekognition_shapes import validate_output

        done = set()
        for operation, status, body in self.raw:
            if status == 200:
                validate_output(operation, json.loads(body))
                done.add(operation)
        self.raw.clear()
        return done

    def audit(self, where: str = "1 = 1") -> list[dict]:
        db = GovernanceDB(
            self.home / "governance.sqlite3", url=database_url(self.env["FACELEDGER_DATABASE_URL"])
        )
        try:
            rows = db.connection().execute(
                f"SELECT record FROM audit_log WHERE {where} ORDER BY seq"
            )
            return [json.loads(r[0]) for r in rows]
        finally:
            db.close()


@pytest.fixture(scope="session")
def rekognition_world(tmp_path_factory):  # noqa: ANN201
    home = tmp_path_factory.mktemp("rekognition") / "home"
    w = World(home, "")
    w.run("admin", "create-org", "Child Safe", "--actor-class", "child-protection")
    w.run("admin", "create-account", "Child Safe", "caseworker", "--role", "operator")
    w.sigv4("caseworker", "Child Safe/caseworker", "--purpose", "missing-person",
            "--case-ref", "CS-2024-031", "--consent", "family-consent")  # fmt: skip
    w.run("admin", "create-org", "City Police", "--actor-class", "law-enforcement")
    for name, role in [("officer", "operator"), ("sergeant", "reviewer"),
                       ("inspector", "reviewer")]:  # fmt: skip
        w.run("admin", "create-account", "City Police", name, "--role", role)
        w.keys[name] = w.run("admin", "create-key", f"City Police/{name}").strip()
    warrant = ["--case-ref", "MP-1", "--authorization-ref", "CO-1",
               "--authorization-date", TODAY]  # fmt: skip
    w.sigv4("missing", "City Police/officer", "--purpose", "missing-person", *warrant,
            "--expires", (datetime.now(UTC).date() + timedelta(days=30)).isoformat())  # fmt: skip
    w.sigv4("criminal", "City Police/officer", "--purpose", "criminal-investigation", *warrant)
    w.sigv4("expired", "City Police/officer", "--expires", "2020-01-01")
    w.sigv4("unbound", "City Police/officer")
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    with Served(w.env) as server:
        w.base = server.base
        yield w
