"""wadctl as an operator meets it: the socket found as the daemon chose it, ``--json``
on either side of the command, tables and units, a QR that fits 80x24."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import spawn_daemon

from wad.ctl import render
from wad.ctl.main import EXIT_NOT_RUNNING

pytestmark = pytest.mark.slow


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WAD_CONTROL_SOCKET", "WAD_STATE_DIR", "RUNTIME_DIRECTORY")
    }
    return subprocess.run(
        [sys.executable, "-m", "wad.ctl.main", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_socket_found_from_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    # The daemon's socket is <state>/wad.sock: spawn_daemon puts it in tmp_path/wad.sock.
    daemon = spawn_daemon(state, "--engine", "simulator", state_dir=state)
    try:
        by_flag = run("--state-dir", str(state), "status", HOME=str(tmp_path))
        assert by_flag.returncode == 0, by_flag.stderr
        by_env = run("status", HOME=str(tmp_path), WAD_STATE_DIR=str(state))
        assert by_env.returncode == 0, by_env.stderr
        nowhere = run("status", HOME=str(tmp_path))
        assert nowhere.returncode == EXIT_NOT_RUNNING
        assert str(tmp_path / ".local/state/wad/wad.sock") in nowhere.stderr
        uptime = next(li for li in by_flag.stdout.splitlines() if li.startswith("uptime"))
        assert re.fullmatch(r"uptime\s+(\d+\.\d s|\d+m \d+s|\d+h \d+m|\d+d \d+h)", uptime)

        # --json before or after the command, the same answer.
        sock = {"WAD_CONTROL_SOCKET": str(state / "wad.sock")}
        assert run("create", "dev", **sock).returncode == 0
        before = run("--json", "sessions", **sock)
        after = run("sessions", "--json", **sock)
        assert before.returncode == after.returncode == 0, after.stderr
        assert json.loads(before.stdout)["sessions"][0]["deviceId"] == "dev"
        assert json.loads(after.stdout) == json.loads(before.stdout)

        assert run("sim", "scan", "dev", "15550001111", **sock).returncode == 0
        assert run("sim", "incoming", "dev", "15550002222", "hello there", **sock).returncode == 0
        table = run("messages", "dev", **sock)
        assert table.returncode == 0, table.stderr
        head, *rows = table.stdout.splitlines()
        assert head.split()[:4] == ["CREATED", "DIR", "PEER", "TYPE"]
        assert any("in" in r.split() and "hello there" in r for r in rows), table.stdout
        as_json = run("messages", "dev", "--json", **sock)
        assert json.loads(as_json.stdout)["messages"][0]["body"] == "hello there"
    finally:
        daemon.stop()


def test_qr_once_says_it_is_not_redrawn(wad_process) -> None:  # type: ignore[no-untyped-def]
    sock = {"WAD_CONTROL_SOCKET": str(wad_process.state_dir.parent / "wad.sock")}
    assert run("create", "dev", **sock).returncode == 0
    done = run("qr", "dev", "--once", **sock)
    assert done.returncode == 0, done.stderr
    assert "not redrawn" in done.stdout.splitlines()[0] or "waiting" in done.stdout


def _whatsapp_shaped(ref_bytes: int) -> str:
    def part(n: int) -> str:
        return base64.b64encode(os.urandom(n)).decode()

    return f"2@{part(ref_bytes)},{part(32)},{part(32)},{part(32)}"


@pytest.mark.parametrize(
    ("code", "version", "most_lines"),
    [
        # The three 32-byte keys alone take 134 characters: the smallest real
        # payload is version 7, 47 modules with the quiet zone, 24 lines.
        (_whatsapp_shaped(6), 7, 24),
        ("2@" + "A1b2C3d4" * 16, 6, 22),  # 130 characters: version 6
    ],
)
def test_qr_fits_80x24_with_half_blocks(code: str, version: int, most_lines: int) -> None:
    matrix = render.qr_matrix(code)
    assert len(matrix) == version * 4 + 17 + 2 * render.QR_BORDER
    text = render.qr_text(code)
    lines = text.splitlines()
    assert len(lines) <= most_lines
    assert all(len(line) <= 80 for line in lines)
    assert set(text) <= set("▀▄█ \n")
    # Drawn back into modules, it is the code, quiet zone included (light is drawn).
    drawn = []
    for line in lines:
        drawn.append([ch in " ▄" for ch in line])
        drawn.append([ch in " ▀" for ch in line])
    assert drawn[: len(matrix)] == matrix


def test_qr_shows_why_it_waits(tmp_path: Path) -> None:
    """With neonize offline the session fails again and again: ``wadctl qr`` says why."""
    env = {"WAD_BACKOFF_INITIAL": "0.1", "WAD_BACKOFF_CAP": "0.2", "WAD_WORKER_GRACE": "2"}
    daemon = spawn_daemon(tmp_path, env=env)  # the default engine: neonize, no network
    sock = str(tmp_path / "wad.sock")
    try:
        assert run("--socket", sock, "create", "real1").returncode == 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "wad.ctl.main", "--socket", sock, "qr", "real1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not select.select([proc.stdout], [], [], deadline - time.monotonic())[0]:
                break
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("waiting: ") and "failed to dial" in line:
                break
        assert any(li.startswith("waiting: ") and "failed to dial" in li for li in seen), seen
        proc.kill()
        proc.wait()
    finally:
        daemon.stop()
