"""The console in a real browser (Debian's chromium through Playwright) against a real
``faceledger serve``: sign-in, two reviewers confirming a lead in two browsers, a requester who
cannot review their own lead, CSRF refusal, markup rendered inert, keyboard-only review, an
auditor who sees only their organization, and no console error on any page. Screenshots of
every page are saved (the path is printed at the end of the run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_helpers import Site, declarations

from testdata import PORTRAITS

XSS_ID = '<script>window.__xss = "external_image_id"</script>'
XSS_NOTE = (
    "<img src=x onerror=\"window.__xss = 'note'\"> Same ear shape and scar over the left brow."
)


class Tab:
    """One browser context (its own cookies: one person) with one page, collecting every
    console error and uncaught exception."""

    def __init__(self, browser: Any, site: Site) -> None:
        self.site = site
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.refusals: set[str] = set()
        """Pages expected to answer 403/404 (Chrome logs such a page load as an error)."""
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.type}: {m.text} ({self.page.url})")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e} ({self.page.url})"))

    def go(self, path: str) -> Any:
        return self.page.goto(self.site.base + path)

    def sign_in(self, key: str, then: str = "/console/") -> None:
        self.go(f"/console/signin?next={then}")
        self.page.fill("#api_key", key)
        self.page.click("form[action='/console/signin'] button[type=submit]")
        self.page.wait_for_load_state()
        assert "/console/signin" not in self.page.url, self.page.content()[:500]

    def shot(self, name: str) -> None:
        assert self.site.shots is not None
        self.page.screenshot(path=str(self.site.shots / f"{name}.png"), full_page=True)

    def images_loaded(self) -> list[int]:
        return self.page.eval_on_selector_all(
            "main img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)"
        )

    def refused(self, path: str) -> None:
        self.refusals.add(self.site.base + path)

    def close(self) -> None:
        self.context.close()
        errors = [
            e
            for e in self.errors
            if not (
                e.startswith("error: Failed to load resource: the server responded with a status"
                             " of 40")
                and e.rsplit("(", 1)[-1].rstrip(")") in self.refusals
            )
        ]  # fmt: skip
        assert not errors, errors


@pytest.fixture(scope="module")
def world(site: Site) -> dict[str, Any]:
    """A collection of law-enforcement enrolments and leads opened through the HTTP API."""
    op = site.api("A", "operator", **declarations())
    both = site.api("A", "reviewer2", **declarations())
    with httpx.Client(base_url=site.base, timeout=60) as c:
        r = c.post("/v1/collections", json={"collection_id": "missing"}, headers=op)
        assert r.status_code == 201, r.text
        for i, path in enumerate(PORTRAITS[:4]):
            data = {"external_image_id": XSS_ID if i == 0 else f"poster-{i}.jpg"}
            files = {"image": (path.name, path.read_bytes(), "image/jpeg")}
            r = c.post("/v1/collections/missing/faces", files=files, data=data, headers=op)
            assert r.status_code == 201, r.text

        def lead(headers: dict[str, str], portrait: int) -> str:
            files = {"image": ("probe.jpg", PORTRAITS[portrait].read_bytes(), "image/jpeg")}
            r = c.post("/v1/collections/missing/search", files=files, headers=headers)
            assert r.status_code == 202, r.text
            return r.json()["lead"]["id"]

        return {"two": lead(op, 0), "own": lead(both, 1), "csrf": lead(op, 2)}


def _status(site: Site, lead_id: str) -> str:
    r = httpx.get(f"{site.base}/v1/leads/{lead_id}", headers=site.api("A", "reviewer"))
    return r.json()["lead"]["status"]


def test_sign_in_and_every_operator_and_auditor_page(browser, site, world) -> None:
    tab = Tab(browser, site)
    tab.go("/console/review")
    assert "/console/signin" in tab.page.url  # no session: the sign-in form
    tab.shot("01-sign-in")
    tab.page.fill("#api_key", "flk_0000000000000000_" + "0" * 40)
    tab.page.click("form[action='/console/signin'] button[type=submit]")
    assert tab.page.get_by_role("alert").is_visible()
    tab.sign_in(site.keys["A"]["operator"])
    cookie = next(c for c in tab.context.cookies() if c["name"] == "faceledger_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert site.keys["A"]["operator"] not in str(tab.context.cookies())
    tab.shot("02-home-operator")
    tab.go("/console/collections")
    tab.shot("03-collections")
    tab.page.click("text=missing")
    assert tab.page.locator("figure.face").count() == 4
    assert tab.images_loaded() == [150] * 4  # every crop shown (150×150 JPEGs)
    assert XSS_ID in tab.page.inner_text("main")  # shown as text
    tab.shot("04-collection-faces")
    tab.go("/console/search")
    tab.page.select_option("#collection_id", "missing")
    tab.page.set_input_files("#image", str(PORTRAITS[3]))
    tab.page.select_option("#purpose", "missing-person")
    tab.page.fill("#case_ref", "MP-2026-0042")
    tab.page.fill("#authorization_ref", "W-7731")
    tab.page.fill("#authorization_date", declarations()["X-Authorization-Date"])
    tab.page.click("form[action='/console/search'] button[type=submit]")
    outcome = tab.page.inner_text("section.outcome")
    assert "Held for review" in outcome and "law-enforcement-identification" in outcome
    tab.shot("05-search-held-for-review")
    tab.go("/console/search")
    tab.page.set_input_files("#image", str(PORTRAITS[3]))
    tab.page.click("form[action='/console/search'] button[type=submit]")  # nothing declared
    outcome = tab.page.inner_text("section.outcome")
    assert "Refused by the policy" in outcome and "law-enforcement-search-moratorium" in outcome
    tab.shot("06-search-refused")
    tab.go("/console/leads")
    assert world["two"] in tab.page.inner_text("main")
    tab.shot("07-my-leads")
    tab.page.click("form[action='/console/signout'] button")
    assert "/console/signin" in tab.page.url
    tab.go("/console/leads")
    assert "/console/signin" in tab.page.url  # the session is gone
    tab.close()


def test_two_reviewers_confirm_a_lead_in_two_browsers(browser, site, world) -> None:
    lead = world["two"]
    first, second = Tab(browser, site), Tab(browser, site)
    first.sign_in(site.keys["A"]["reviewer"])
    first.go("/console/review")
    first.shot("08-review-queue")
    first.page.click(f"text={lead}")
    assert first.images_loaded() == [150, 150]  # the probe beside the candidate
    main = first.page.inner_text("main")
    assert "missing-person" in main and "MP-2026-0042" in main and "W-7731" in main
    assert XSS_ID in main  # the external image id, as text
    odds = first.page.inner_text(".odds")  # what a candidate is worth in this gallery
    assert "(4 faces)" in odds and "1 in 10,000" in odds and "false candidate" in odds
    rates = first.page.inner_text("#error-rates")  # the audited rates the lead carries
    assert site.audit_id in rates and "FMR overall" in rates
    assert "Worst audited group" in rates and "for a gallery of 4 faces" in rates
    first.shot("09-lead-before-review")
    first.page.fill("#note", XSS_NOTE)
    first.page.click("button.confirm")
    assert "confirmation is recorded" in first.page.inner_text("main")
    assert _status(site, lead) == "pending"
    second.sign_in(site.keys["A"]["reviewer2"], then=f"/console/leads/{lead}")
    assert XSS_NOTE in second.page.inner_text("main")  # the first reviewer's decision, as text
    second.shot("10-lead-second-reviewer")
    second.page.fill("#note", "Agree: same face; the probe is recent and sharp.")
    second.page.click("button.confirm")
    assert "released" in second.page.inner_text("h1")
    second.shot("11-lead-released")
    for tab in (first, second):
        assert tab.page.evaluate("window.__xss") is None  # no markup ran
    requester = Tab(browser, site)
    requester.sign_in(site.keys["A"]["operator"], then=f"/console/leads/{lead}")
    assert requester.images_loaded() == [150, 150]  # released: the requester sees the faces
    requester.shot("12-lead-released-requester")
    for tab in (first, second, requester):
        tab.close()


def test_a_requester_cannot_review_their_own_lead(browser, site, world) -> None:
    lead = world["own"]
    tab = Tab(browser, site)
    tab.sign_in(site.keys["A"]["reviewer2"])
    tab.go("/console/review")
    assert lead not in tab.page.inner_text("main")
    tab.go(f"/console/leads/{lead}")
    assert tab.page.locator("#note").count() == 0
    assert "You opened this lead" in tab.page.inner_text("main")
    assert tab.images_loaded() == []  # before release the requester sees no face
    tab.shot("13-own-lead")
    csrf = tab.page.get_attribute("input[name=csrf]", "value")
    r = tab.page.request.post(
        f"{site.base}/console/leads/{lead}/review",
        form={"verdict": "confirm", "note": "mine", "csrf": csrf},
    )
    assert r.status == 403 and "may not review their own lead" in r.text()
    assert _status(site, lead) == "pending"
    tab.close()


def test_keyboard_only_review(browser, site, world) -> None:
    lead = world["own"]
    tab = Tab(browser, site)
    tab.sign_in(site.keys["A"]["reviewer"], then=f"/console/leads/{lead}")
    page = tab.page
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "note":
            break
    else:
        pytest.fail("the note cannot be reached with the keyboard")
    page.keyboard.type("Confirmed from the faces: same nose bridge and hairline.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Confirm"
    tab.shot("14-keyboard-focus-on-confirm")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "confirmation is recorded" in page.inner_text("main")
    tab.close()


def test_csrf_refusal(browser, site, world) -> None:
    lead = world["csrf"]
    tab = Tab(browser, site)
    tab.sign_in(site.keys["A"]["reviewer"], then=f"/console/leads/{lead}")
    tab.page.eval_on_selector("form[action$='/review'] input[name=csrf]", "e => e.value = 'forged'")
    tab.page.fill("#note", "forged form")
    tab.refused(f"/console/leads/{lead}/review")
    tab.page.click("button.reject")
    assert "Form refused" in tab.page.inner_text("h1")
    tab.shot("15-csrf-refused")
    r = tab.page.request.post(
        f"{site.base}/console/leads/{lead}/review", form={"verdict": "reject", "note": "no token"}
    )
    assert r.status == 403
    assert _status(site, lead) == "pending"
    tab.close()


def test_an_auditor_sees_only_their_organization(browser, site, world) -> None:
    a_records = httpx.get(
        f"{site.base}/v1/audit-log", params={"operation": "faces.search_by_image"},
        headers=site.api("A", "auditor"),
    ).json()["records"]  # fmt: skip
    a_seq = a_records[0]["seq"]
    auditor_a = Tab(browser, site)
    auditor_a.sign_in(site.keys["A"]["auditor"], then="/console/audit")
    auditor_a.page.fill("input[name=operation]", "faces.search_by_image")
    auditor_a.page.select_option("select[name=decision]", "allowed")
    auditor_a.page.click("form.filters button")
    text = auditor_a.page.inner_text("main")
    assert "law-enforcement-identification" in text and site.accounts["A"]["operator"] in text
    auditor_a.shot("16-audit-log-filtered")
    auditor_a.page.click(f"a[href='/console/audit/records/{a_seq}']")
    record = auditor_a.page.inner_text("pre.record")
    assert (
        '"operation": "faces.search_by_image"' in record and '"rule": "law-enforcement-' in record
    )
    auditor_a.shot("17-audit-record")
    auditor_a.go("/console/audit?operation=faces.search_by_image")
    with auditor_a.page.expect_download() as download:
        auditor_a.page.click("text=Export these filters")
    lines = Path(download.value.path()).read_text().splitlines()
    exported = [json.loads(line)["record"] for line in lines]
    assert len(exported) == len(a_records) >= 3
    assert {r["tenant_id"] for r in exported} == {a_records[0]["record"]["tenant_id"]}
    auditor_a.go("/console/audit/verify")
    assert "Intact" in auditor_a.page.inner_text(".verdict")
    auditor_a.shot("18-chain-verified")
    auditor_b = Tab(browser, site)
    auditor_b.sign_in(site.keys["B"]["auditor"], then="/console/audit")
    text = auditor_b.page.inner_text("main")
    assert site.accounts["B"]["auditor"] in text  # their own sign-in is on record
    assert not any(acct in text for acct in site.accounts["A"].values())
    auditor_b.refused(f"/console/audit/records/{a_seq}")
    auditor_b.refused(f"/console/leads/{world['two']}")
    auditor_b.go(f"/console/audit/records/{a_seq}")
    assert "Not found" in auditor_b.page.inner_text("h1")
    auditor_b.go(f"/console/leads/{world['two']}")
    assert "Refused by the policy" in auditor_b.page.inner_text("h1")  # auditors do not see leads
    for tab in (auditor_a, auditor_b):
        tab.close()


def test_an_admin_manages_keys_and_reads_the_policy(browser, site, world) -> None:
    tab = Tab(browser, site)
    tab.sign_in(site.keys["A"]["admin"], then="/console/admin")
    text = tab.page.inner_text("main")
    assert site.accounts["A"]["reviewer"] in text and site.accounts["B"]["reviewer"] not in text
    assert "law-enforcement-search-moratorium" in text  # the policy, rule by rule
    tab.page.fill("#name", "analyst")
    tab.page.check("input[name=roles][value=reviewer]")
    tab.page.click("form[action='/console/admin/accounts'] button")
    assert "analyst" in tab.page.inner_text("main")
    row = tab.page.locator("tr", has_text="analyst")
    row.locator("input[name=label]").fill("night shift")
    row.locator("button", has_text="Create key").click()
    key = tab.page.inner_text("#new-key")  # shown once
    assert key.startswith("flk_")
    tab.shot("19-admin-new-key")
    assert httpx.get(
        f"{site.base}/v1/whoami", headers={"Authorization": f"Bearer {key}"}
    ).is_success
    tab.go("/console/admin")
    assert key not in tab.page.content()  # never shown again
    key_id = key.split("_")[1]
    tab.page.click(f"button[aria-label='Revoke key {key_id}']")
    assert "revoked" in tab.page.locator("tr", has_text="analyst").inner_text()
    r = httpx.get(f"{site.base}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401
    tab.shot("20-admin-policy")
    tab.close()


def test_accountability_fairness_audit_and_report(browser, site, world) -> None:
    """Everyone signed in sees the fairness audit on file; the report is generated through the
    governed service method: refused (with its rule) for an operator, shown to an auditor."""
    operator = Tab(browser, site)
    operator.sign_in(site.keys["A"]["operator"], then="/console/accountability")
    fairness = operator.page.inner_text("#fairness")
    assert site.audit_id in fairness
    assert operator.page.locator("#fairness table tbody tr").count() >= 2  # Female, Male
    assert "FNMR" in fairness and "95% CI" in fairness
    assert "may not" in operator.page.inner_text("#report")
    operator.page.click("#report button[type=submit]")
    assert "Refused by the policy" in operator.page.inner_text("#report [role=alert]")
    auditor = Tab(browser, site)
    auditor.sign_in(site.keys["A"]["auditor"])
    auditor.page.click("nav >> text=Accountability")
    auditor.page.click("#report button[type=submit]")
    report = auditor.page.inner_text("#report")
    assert "Police A" in report and "Decisions by policy rule" in report
    assert "opened" in report and "Face-service requests" in report
    auditor.shot("19-accountability-report")
    records = httpx.get(
        f"{site.base}/v1/audit-log", params={"operation": "report.accountability"},
        headers=site.api("A", "auditor"),
    ).json()["records"]  # fmt: skip
    allowed = {r["record"]["decision"]["allowed"] for r in records}
    assert allowed == {True, False}  # both requests are in the audit log, decided
    for tab in (operator, auditor):
        tab.close()
