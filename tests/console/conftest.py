"""A real ``faceledger serve`` with two law-enforcement organizations, and Debian's chromium
driven by Playwright (skipped only when chromium or Playwright is absent: CI installs both)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_helpers import ARGS, CHROMIUM, ROLES, Site, file_fairness_audit

from faceledger.governance import GovernanceDB, Principals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    """The server, on a data folder with organizations A and B (one account per role, and
    ``reviewer2`` who is both operator and reviewer), and a household ``H`` of class
    ``camera-owner`` (one operator)."""
    root = tmp_path_factory.mktemp("console") / "data"
    db = GovernanceDB(root / "governance.sqlite3")
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
    port = _free_port()
    env = {**os.environ, "FACELEDGER_HOME": str(root)}
    log_path = root.parent / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    site.base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{site.base}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            raise AssertionError(f"server did not start: {log_path.read_text()}")
        time.sleep(0.3)
    try:
        yield site
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
        print(f"\nconsole screenshots: {site.shots}")
        output = log_path.read_text(errors="replace")
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
