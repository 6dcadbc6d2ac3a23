"""Console sessions and forms without a browser (TestClient on the app): the cookie's flags,
idle timeout, a revoked key ending its session, CSRF on every form, sign-in recorded, no open
redirect after sign-in."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from api_helpers import make_world, missing_person, upload  # noqa: E402

from faceledger.console.sessions import COOKIE  # noqa: E402
from faceledger.governance import Principals  # noqa: E402
from testdata import PORTRAITS  # noqa: E402


def _sign_in(browser: TestClient, key: str, next_: str = "/console/") -> object:
    form = browser.get("/console/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    return browser.post(
        "/console/signin",
        data={"api_key": key, "signin_token": token, "next": next_},
        follow_redirects=False,
    )


def test_sessions_cookies_csrf_and_idle_timeout(tmp_path, engine) -> None:
    w = make_world(tmp_path, engine)
    browser = TestClient(w.app, base_url="https://testserver")
    r = _sign_in(browser, w.orgs["A"].keys["reviewer"], next_="https://evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/console/"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert w.orgs["A"].keys["reviewer"] not in cookie
    assert w.records(operation="principal.whoami", principal_id=w.orgs["A"].accounts["reviewer"])
    page = browser.get("/console/")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    # a form without the session's token is refused, and so is one from another origin
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert browser.post("/console/signout", data={"csrf": "x"}).status_code == 403
    r = browser.post(
        "/console/signout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    # the sign-in form itself carries a token (a login CSRF is refused)
    r = browser.post("/console/signin", data={"api_key": w.orgs["A"].keys["operator"]})
    assert r.status_code == 403
    # idle: the session ends
    w.app.state.console_sessions.idle_seconds = 0
    r = browser.get("/console/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/signin")
    w.app.state.console_sessions.idle_seconds = 900
    # a revoked key ends its session at the next request
    assert _sign_in(browser, w.orgs["A"].keys["operator"]).status_code == 303
    assert browser.get("/console/collections").status_code == 200
    key_id = re.match(r"flk_([0-9a-f]{16})_", w.orgs["A"].keys["operator"]).group(1)
    Principals(w.db).revoke_key(key_id)
    r = browser.get("/console/collections", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/signin")
    assert browser.get("/console/collections", follow_redirects=False).status_code == 303
    assert browser.cookies.get(COOKIE) is not None  # the browser still holds a dead session id
    # a wrong key: back to the form, recorded as a failed authentication
    r = _sign_in(browser, "flk_0123456789abcdef_" + "0" * 40)
    assert r.status_code == 303 and "failed=1" in r.headers["location"]
    w.app.state.close()
    w.db.close()


def test_a_lead_page_after_an_erasure_shows_the_redacted_row(tmp_path, engine) -> None:
    from api_helpers import missing_person, upload

    from testdata import PORTRAITS

    w = make_world(tmp_path, engine)
    c = w.client
    h = w.headers("A", "operator", **missing_person(w.clock().date()))
    p = "/v1/collections/people"
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).is_success
    face_id = c.post(f"{p}/faces", files=upload(PORTRAITS[0]), headers=h).json()["face_records"][0][
        "face_id"
    ]
    lead = c.post(f"{p}/search", files=upload(PORTRAITS[0]), headers=h).json()["lead"]["id"]
    assert c.post(f"{p}/users", json={"user_id": "u1"}, headers=h).is_success
    c.post(f"{p}/users/u1/associate", json={"face_ids": [face_id]}, headers=h)
    assert c.post("/v1/subjects/erase", json={"user_ids": ["u1"]}, headers=h).is_success
    browser = TestClient(w.app)
    assert _sign_in(browser, w.orgs["A"].keys["reviewer"]).status_code == 303
    page = browser.get(f"/console/leads/{lead}")
    assert page.status_code == 200 and "erased subject" in page.text
    assert "/crops/probe/0" not in page.text  # the probe crop went with the erasure
    w.app.state.close()
    w.db.close()


def test_no_audit_on_file_on_the_lead_and_accountability_pages(tmp_path, engine) -> None:
    """Without a fairness audit on file, a lead says so with the reason it carries, and the
    accountability page says the rates are unmeasured."""
    w = make_world(tmp_path, engine)
    with w.client:
        h = w.headers("A", "operator", **missing_person(w.clock().date()))
        assert w.client.post("/v1/collections", json={"collection_id": "p"}, headers=h).is_success
        for p in PORTRAITS[:2]:
            r = w.client.post("/v1/collections/p/faces", files=upload(p), headers=h)
            assert r.status_code == 201
        r = w.client.post("/v1/collections/p/search", files=upload(PORTRAITS[0]), headers=h)
        assert r.status_code == 202, r.text
        lead = r.json()["lead"]["id"]
        browser = TestClient(w.app, base_url="https://testserver")
        _sign_in(browser, w.orgs["A"].keys["reviewer"])
        text = browser.get(f"/console/leads/{lead}").text
        assert "No audit on file" in text
        assert "no fairness audit on file for model dlib-resnet-v1+tta6" in text
        page = browser.get("/console/accountability").text
        assert "No audit on file for model" in page and "unmeasured" in page
    w.app.state.close()
