"""A 401 says how to authenticate: a Bearer challenge (RFC 6750) and the credential
the route wants; the admin token is long enough to resist guessing."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, Running

from wad.config import ADMIN_TOKEN_MIN, ConfigError, load

README = Path(__file__).resolve().parents[2] / "README.md"
WRONG = {"Authorization": "Bearer wadadm_wrong-but-long-enough-0123456789abcdef"}


@pytest.mark.parametrize(
    ("method", "path", "wanted"),
    [
        ("GET", "/api/sessions", "this needs the admin token"),
        ("GET", "/metrics", "this needs the admin token"),
        ("GET", "/api/events", "this needs the admin token"),
        ("GET", "/api/sessions/dev1/webhooks", "this needs the admin token"),  # a plugin's
        ("POST", "/api/messages/send", "this needs this session's API key"),
        ("POST", "/api/sessions/dev1/messages", "this needs this session's API key"),
        (
            "GET",
            "/api/sessions/dev1/messages/x/media",
            "this needs the admin token or this session's API key",
        ),
    ],
)
async def test_a_401_challenges_and_names_the_credential(
    wad: Running, method: str, path: str, wanted: str
) -> None:
    body = {"deviceId": "dev1", "number": "15550002222", "message": "hi"}
    json = body if method == "POST" else None
    r = await wad.client.request(method, path, json=json)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="wad"'
    assert r.json()["error"].startswith("Missing credentials: " + wanted)
    r = await wad.client.request(method, path, json=json, headers=WRONG)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="wad", error="invalid_token"'
    error = r.json()["error"]
    assert error.startswith("Invalid ") and error.endswith(wanted)


async def test_a_wrong_sign_in_is_challenged_too(wad: Running) -> None:
    r = await wad.client.post(
        "/api/dashboard/login", json={"token": "x" * 40}, headers={"X-Wad-Dashboard": "1"}
    )
    assert r.status_code == 401 and r.json()["error"] == "Wrong admin token"
    assert r.headers["www-authenticate"] == 'Bearer realm="wad", error="invalid_token"'
    assert "www-authenticate" not in (await wad.client.get("/healthz")).headers


def serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wad.cli", "serve", "--engine", "simulator"]
        + ["--state-dir", str(tmp_path / "state"), "--http", "127.0.0.1:0"]
        + ["--control-socket", str(tmp_path / "wad.sock")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_short_admin_token_is_refused_at_start(tmp_path: Path) -> None:
    done = serve(tmp_path, {"WAD_ADMIN_TOKEN": "s3cret-but-short"})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "wad: admin_token (WAD_ADMIN_TOKEN): must be at least 32 characters, not 16"
        " (e.g. the output of: openssl rand -hex 32)"
    )
    assert not (tmp_path / "state").exists()  # refused before anything was created


def test_a_short_token_in_the_token_file_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "admin.token").write_text("short\n")
    env = {k: v for k, v in os.environ.items() if k != "WAD_ADMIN_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "wad.cli", "serve", "--engine", "simulator"]
        + ["--state-dir", str(tmp_path / "state"), "--http", "127.0.0.1:0"]
        + ["--control-socket", str(tmp_path / "wad.sock")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "admin token in" in done.stderr and "at least 32 characters" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_readme_and_test_tokens_are_long_enough() -> None:
    readme = README.read_text()
    # Tokens the README writes out, and the ones its tour generates.
    examples = [t for t in re.findall(r"WAD_ADMIN_TOKEN=(\S+)", readme) if not t.startswith("$")]
    examples += [
        secrets.token_urlsafe(int(n))
        for n in re.findall(r"secrets\.token_urlsafe\((\d+)\)", readme)
    ]
    examples += ["0" * 64 for _ in re.findall(r"openssl rand -hex 32", readme)]
    assert examples, "the README shows no admin token"
    for example in examples:
        assert load({}, env={"WAD_ADMIN_TOKEN": example}).admin_token == example
    assert len(ADMIN_TOKEN) >= ADMIN_TOKEN_MIN
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load({}, env={"WAD_ADMIN_TOKEN": "x" * 31})
    # The TOML file's setting is held to the same rule.
    assert load({}, env={"WAD_ADMIN_TOKEN": "x" * 32}).admin_token == "x" * 32
