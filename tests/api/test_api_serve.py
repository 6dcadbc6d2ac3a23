"""`faceledger serve` for real: a uvicorn process on 127.0.0.1 answering governed requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from faceledger.cli.app import app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_with_the_data_folders_principals(tmp_path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "FACELEDGER_HOME": str(home)}
    runner = CliRunner()
    assert runner.invoke(app, ["admin", "init"], env=env).exit_code == 0
    key = (home / "cli-key").read_text().strip()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        auth = {"Authorization": f"Bearer {key}"}
        who = httpx.get(f"{base}/v1/whoami", headers=auth).json()
        assert who["roles"] == ["operator"] and who["actor_class"] == "research"
        r = httpx.post(f"{base}/v1/collections", json={"collection_id": "c1"}, headers=auth)
        assert r.status_code == 201 and r.json()["decision"]["rule"] == "face-service"
        assert httpx.get(f"{base}/v1/collections").status_code == 401
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    verify = runner.invoke(app, ["audit-log", "verify"], env=env)
    assert verify.exit_code == 0 and "intact" in verify.stdout
