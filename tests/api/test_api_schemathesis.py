"""Property-based: requests generated from the OpenAPI schema never make the server fail (5xx),
and every response is documented: its status code, its content type and its body's schema.

Bounded to stay fast: a few examples per operation, as an operator of a law-enforcement
organization with a collection "people" holding one face (so some generated ids exist)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from faceledger.api import create_app
from faceledger.engine import Engine
from faceledger.governance import GovernanceDB, Principals
from testdata import PORTRAITS

_ROOT = Path(tempfile.mkdtemp(prefix="faceledger-schemathesis-"))


def _setup() -> tuple[object, str]:
    db = GovernanceDB(_ROOT / "governance.sqlite3")
    principals = Principals(db)
    org = principals.create_org("org-fuzz", "research")
    acct = principals.create_account(org.id, "fuzzer", ["operator", "reviewer"])
    key = principals.create_key(acct.id).api_key
    db.close()
    app = create_app(_ROOT, engine=Engine())
    return app, key


APP, KEY = _setup()
AUTH = {
    "Authorization": f"Bearer {KEY}",
    "X-Purpose": "research",
    "X-Case-Ref": "fuzz-1",
}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _seed() -> None:
    from starlette.testclient import TestClient

    c = TestClient(APP)  # not as a context manager: that would run the shutdown, closing the DBs
    c.post("/v1/collections", json={"collection_id": "people"}, headers=AUTH)
    r = c.post(
        "/v1/collections/people/faces",
        files={"image": ("a.jpg", PORTRAITS[0].read_bytes(), "image/jpeg")},
        data={"consent": "c-1"},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text


_seed()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_responses_are_documented_and_never_server_errors(case) -> None:
    headers = {**(case.headers or {}), **AUTH}
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    # the conformance checks skip schemathesis' probes of undocumented methods (405): those too
    # answer with the one error body
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"], response.text[:300]
