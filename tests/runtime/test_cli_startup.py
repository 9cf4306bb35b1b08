"""``wad serve`` that cannot start says why in one line and exits 1, without a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import httpx
from conftest import ADMIN_TOKEN, serve_command, spawn_daemon


def _serve(tmp_path: Path, http: str, sock: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_command(tmp_path / "state", http, sock),
        env={**os.environ, "WAD_ADMIN_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_http_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(tmp_path, f"127.0.0.1:{port}", tmp_path / "wad.sock")
    assert done.returncode == 1
    assert (
        f"cannot start: 127.0.0.1:{port} is already in use (choose another with --http HOST:PORT)"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "wad.sock").exists()  # what it bound, it removed


def test_control_path_not_a_socket(tmp_path: Path) -> None:
    (tmp_path / "wad.sock").write_text("not a socket")
    done = _serve(tmp_path, "127.0.0.1:0", tmp_path / "wad.sock")
    assert done.returncode == 1
    assert "exists and is not a socket" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "wad.sock").read_text() == "not a socket"


def test_ready_line_says_what_to_do_next(tmp_path: Path) -> None:
    daemon = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_ADMIN_TOKEN": ""})
    try:
        token_file = daemon.state_dir / "admin.token"
        token = token_file.read_text().strip()
        ready = next(li for li in daemon.log.read_text().splitlines() if "wad ready" in li)
        assert f"dashboard {daemon.url}/ " in ready
        assert f"admin token in {token_file}" in ready
        assert "wadctl" in ready and token not in daemon.log.read_text()
        state = httpx.get(daemon.url + "/api/dashboard/login").json()
        assert state["tokenFile"] == str(token_file) and token not in json.dumps(state)
    finally:
        daemon.stop()
    (tmp_path / "env").mkdir()
    with_env = spawn_daemon(tmp_path / "env", "--engine", "simulator")
    try:
        ready = next(li for li in with_env.log.read_text().splitlines() if "wad ready" in li)
        assert "admin token from WAD_ADMIN_TOKEN" in ready
        assert httpx.get(with_env.url + "/api/dashboard/login").json()["tokenFile"] is None
    finally:
        with_env.stop()
