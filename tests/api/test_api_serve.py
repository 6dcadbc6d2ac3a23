"""`faceledger serve` for real: a uvicorn process on 127.0.0.1 answering governed requests."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from typer.testing import CliRunner

from faceledger.api.accesslog import redact
from faceledger.cli.app import app
from served import Served


def _init(tmp_path) -> tuple[Path, dict[str, str], str]:
    home = tmp_path / "home"
    env = {**os.environ, "FACELEDGER_HOME": str(home)}
    assert CliRunner().invoke(app, ["admin", "init"], env=env).exit_code == 0
    return home, env, (home / "cli-key").read_text().strip()


def test_serve_answers_with_the_data_folders_principals(tmp_path) -> None:
    _home, env, key = _init(tmp_path)
    server = Served(env)
    base = server.base
    try:
        auth = {"Authorization": f"Bearer {key}"}
        who = httpx.get(f"{base}/v1/whoami", headers=auth).json()
        assert who["roles"] == ["operator"] and who["actor_class"] == "research"
        r = httpx.post(f"{base}/v1/collections", json={"collection_id": "c1"}, headers=auth)
        assert r.status_code == 201 and r.json()["decision"]["rule"] == "face-service"
        assert httpx.get(f"{base}/v1/collections").status_code == 401
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.stop()
    verify = CliRunner().invoke(app, ["audit-log", "verify"], env=env)
    assert verify.exit_code == 0 and "intact" in verify.stdout


def test_serve_keeps_keys_out_of_its_access_log(tmp_path) -> None:
    _home, env, key = _init(tmp_path)
    secret = key.split("_")[2]
    server = Served(env)
    try:
        r = httpx.get(f"{server.base}/v1/health", params={"api_key": key})
        assert r.status_code == 200
        params = {"limit": 1, "X-API-Key": key, "token": "tok-" + secret[:8], "q": key}
        assert httpx.get(f"{server.base}/v1/collections", params=params).status_code == 401
        assert httpx.get(f"{server.base}/v1/{key}").status_code == 404
    finally:
        out = server.stop()
    assert "GET /v1/health?api_key=REDACTED" in out, out  # the request is logged, not the key
    assert "limit=1" in out
    assert secret not in out and secret[:8] not in out, out


def test_redaction_of_access_log_paths() -> None:
    k = "flk_0123456789abcdef_" + "ab" * 32
    cases = {
        f"/v1/health?api_key={k}": "/v1/health?api_key=REDACTED",
        "/v1/x?limit=2&next_token=abc&API-KEY=z&Password=p": (
            "/v1/x?limit=2&next_token=REDACTED&API-KEY=REDACTED&Password=REDACTED"
        ),
        f"/v1/{k}/x?q={k}&n=1": "/v1/flk_0123456789abcdef_REDACTED/x?q=REDACTED&n=1",
        f"/v1/x?{k}": "/v1/x?flk_0123456789abcdef_REDACTED",
        "/v1/collections?limit=5": "/v1/collections?limit=5",
    }
    for path, expected in cases.items():
        assert redact(path) == expected
