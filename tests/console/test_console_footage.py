"""Footage requests in a real browser against a real ``faceledger serve`` (with its video
worker): the agency asks, the household registers a camera and shares a clip (after revoking
a first one), the agency sees only counts, searches the shared clip, two reviewers release the
held match, and the agency finds the face. Screenshots as the other console tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from console_helpers import declarations
from test_console_browser import Tab

from testdata import PORTRAITS

pytest.importorskip("av")

from videodata import Appearance, clip  # noqa: E402

HOME = ("51.5000", "-0.1000")


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def test_an_agency_asks_an_owner_shares_and_the_agency_finds_the_face(
    browser, site, tmp_path
) -> None:
    wanted = PORTRAITS[5]
    with httpx.Client(base_url=site.base, timeout=60) as c:
        op = site.api("A", "operator", **declarations())
        r = c.post("/v1/collections", json={"collection_id": "wanted"}, headers=op)
        assert r.status_code == 201, r.text
        files = {"image": (wanted.name, wanted.read_bytes(), "image/jpeg")}
        r = c.post("/v1/collections/wanted/faces", files=files,
                   data={"external_image_id": "missing-child.jpg"}, headers=op)  # fmt: skip
        assert r.status_code == 201, r.text
        face_id = r.json()["face_records"][0]["face_id"]
    door = clip(tmp_path / "door.mp4", [Appearance(wanted, 0.5, 2.0, speed=0, scale=1.3)],
                seconds=2.5, size=(480, 360))  # fmt: skip
    empty = clip(tmp_path / "empty.mp4", [], seconds=1, size=(320, 240))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    decl = declarations()

    owner, agency = Tab(browser, site), Tab(browser, site)
    owner.sign_in(site.keys["H"]["operator"])
    owner.page.click("a.tile[href='/console/cameras']")  # an owner's home: cameras, requests
    assert "/console/collections" not in owner.page.content()
    owner.page.fill("#name", "Front door")
    owner.page.fill("#lat", HOME[0])
    owner.page.fill("#lon", HOME[1])
    owner.page.click("form[action='/console/cameras'] button[type=submit]")
    assert "Front door" in owner.page.inner_text("main table")
    camera_id = owner.page.inner_text("main table tbody td code")
    owner.shot("20-owner-cameras")

    agency.sign_in(site.keys["A"]["operator"])
    agency.page.click("nav a[href='/console/footage/requests']")
    ask = "form[action='/console/footage/requests']"
    agency.page.fill(f"{ask} [name=start]", _minute(now - timedelta(hours=6)))
    agency.page.fill(f"{ask} [name=end]", _minute(now))
    agency.page.fill(f"{ask} [name=lat]", "51.5005")
    agency.page.fill(f"{ask} [name=lon]", "-0.1")
    agency.page.fill(f"{ask} [name=reason]", "A missing child was last seen on this street.")
    agency.page.select_option(f"{ask} [name=purpose]", decl["X-Purpose"])
    agency.page.fill(f"{ask} [name=case_ref]", decl["X-Case-Ref"])
    agency.page.fill(f"{ask} [name=authorization_ref]", decl["X-Authorization-Ref"])
    agency.page.fill(f"{ask} [name=authorization_date]", decl["X-Authorization-Date"])
    agency.page.click(f"{ask} button[type=submit]")
    card = agency.page.inner_text("section.footage-request")
    assert "A missing child" in card and "0 to search, 0 searched" in card
    agency.shot("21-agency-footage-request")

    owner.go("/console/footage/inbox")
    assert "A missing child was last seen" in owner.page.inner_text("main")
    share = "section.footage-request form[action$='/share']"
    for path in (empty, door):  # the first share is revoked before anyone searched it
        owner.page.set_input_files(f"{share} input[type=file]", str(path))
        owner.page.fill(f"{share} [name=clip_start]", _minute(now - timedelta(hours=1)))
        owner.page.click(f"{share} button[type=submit]")
        assert "shared" in owner.page.inner_text("section.footage-request table")
        if path == empty:
            owner.page.click("section.footage-request form[action$='/revoke'] button")
    answers = owner.page.inner_text("section.footage-request table")
    assert answers.count("revoked") == 1 and answers.count("shared") == 1
    owner.shot("22-owner-shares-a-clip")

    agency.go("/console/footage/requests")
    main = agency.page.inner_text("main")
    assert "1 to search, 0 searched" in main
    assert camera_id not in agency.page.content() and site.accounts["H"]["org"] not in main
    search = "form[action$='/search']"
    agency.page.fill(f"{search} [name=collection_id]", "wanted")
    agency.page.fill(f"{search} [name=min_face_size]", "80")
    agency.page.fill(f"{search} [name=authorization_ref]", decl["X-Authorization-Ref"])
    agency.page.fill(f"{search} [name=authorization_date]", decl["X-Authorization-Date"])
    agency.page.click(f"{search} button[type=submit]")
    assert "0 to search, 1 searched" in agency.page.inner_text("main")
    agency.page.click("section.footage-request table a[href^='/console/video/']")
    deadline = time.monotonic() + 120
    while agency.page.inner_text("#job-status") in ("queued", "running"):
        assert time.monotonic() < deadline, "the video worker did not finish the job"
        time.sleep(1)
        agency.page.reload()
    assert agency.page.inner_text("#job-status") == "withheld"
    assert "held for review" in agency.page.inner_text("main table")
    agency.shot("23-agency-footage-search-held")
    lead = agency.page.inner_text("p.notice code")

    for reviewer in ("reviewer", "reviewer2"):
        tab = Tab(browser, site)
        tab.sign_in(site.keys["A"][reviewer], then=f"/console/leads/{lead}")
        tab.page.fill("#note", "Same face as the missing child's photograph.")
        tab.page.click("button.confirm")
        tab.close()
    agency.go(f"/console/leads/{lead}")
    main = agency.page.inner_text("main")
    assert face_id in main and "missing-child.jpg" in main, main[:800]
    agency.shot("24-agency-finds-the-face")
    for tab in (owner, agency):
        tab.close()
