"""A real ``faceledger serve`` with two law-enforcement organizations, and Debian's chromium
driven by Playwright (skipped only when chromium or Playwright is absent: CI installs both)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import ARGS, CHROMIUM, ROLES, Site, file_fairness_audit

import pg_testserver
from faceledger.governance import GovernanceDB, Principals
from served import Served


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    """The server, on a data folder with organizations A and B (one account per role, and
    ``reviewer2`` who is both operator and reviewer), and a household ``H`` of class
    ``camera-owner`` (one operator)."""
    root = tmp_path_factory.mktemp("console") / "data"
    url = pg_testserver.world_database()  # PostgreSQL when the suite runs on it
    db = GovernanceDB(root / "governance.sqlite3", url=url or None)
    principals = Principals(db)
    shots = os.environ.get("FACELEDGER_SCREENSHOTS")  # CI keeps them as artefacts
    shots_dir = Path(shots) if shots else tmp_path_factory.mktemp("console-screenshots")
    shots_dir.mkdir(parents=True, exist_ok=True)
    site = Site("", root, shots=shots_dir)
    for org_name in ("A", "B"):
        org = principals.create_org(f"Police {org_name}", "law-enforcement")
        site.keys[org_name], site.accounts[org_name] = {}, {}
        for name, roles in ROLES.items():
            account = principals.create_account(org.id, f"{name}-{org_name}", roles)
            site.accounts[org_name][name] = account.id
            site.keys[org_name][name] = principals.create_key(account.id).api_key
    household = principals.create_org("Household H", "camera-owner")
    owner = principals.create_account(household.id, "owner-H", ["operator"])
    site.accounts["H"] = {"operator": owner.id, "org": household.id}
    site.keys["H"] = {"operator": principals.create_key(owner.id).api_key}
    db.close()
    site.audit_id = file_fairness_audit(root)
    env = {**os.environ, "FACELEDGER_HOME": str(root), "FACELEDGER_DATABASE_URL": url}
    server = Served(env, log=root.parent / "server.log")
    site.base = server.base
    try:
        yield site
    finally:
        output = server.stop()
        print(f"\nconsole screenshots: {site.shots}")
        assert "Traceback" not in output, output  # no internal error behind any page


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no chromium at {CHROMIUM} (CI installs Debian's chromium with apt)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
