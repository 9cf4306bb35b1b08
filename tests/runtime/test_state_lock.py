"""One daemon per state folder: a second ``wad serve`` on the same folder exits 1 with one
line naming the PID that holds it, and writes nothing (no event, no session change)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import apsw
import httpx
from conftest import ADMIN_TOKEN, serve_command, spawn_daemon

from wad.runtime.serve import STATE_LOCK


def snapshot(db: Path) -> tuple[list[tuple], list[tuple]]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        events = conn.execute(
            "SELECT id, device_id, seq, type FROM events ORDER BY rowid"
        ).fetchall()
        sessions = conn.execute("SELECT * FROM sessions ORDER BY device_id").fetchall()
        return events, sessions
    finally:
        conn.close()


def wait_states(url: str, wanted: dict[str, str]) -> None:
    """Poll the first daemon (another process) until its sessions rest in ``wanted``."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sessions = httpx.get(url + "/api/sessions", headers=admin, timeout=10).json()["sessions"]
        if {s["deviceId"]: s["connectionState"] for s in sessions} == wanted:
            return
        time.sleep(0.05)  # another process's state: polled
    raise AssertionError(f"the sessions never reached {wanted}")


def serve_again(tmp_path: Path, state: Path) -> subprocess.CompletedProcess[str]:
    # Its own control socket, not the first's: the state folder's lock alone must refuse.
    return subprocess.run(
        serve_command(state, "127.0.0.1:0", tmp_path / "second.sock"),
        env={**os.environ, "WAD_ADMIN_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_second_daemon_on_the_same_state_folder_exits_having_written_nothing(
    tmp_path: Path,
) -> None:
    first = spawn_daemon(tmp_path, "--engine", "simulator", "--qr-interval", "3600")
    try:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for device_id in ("a", "b"):
            r = httpx.post(first.url + "/api/sessions", json={"deviceId": device_id}, headers=admin)
            assert r.status_code == 201, r.text
        wait_states(first.url, {"a": "waiting_qr", "b": "waiting_qr"})  # it wrote all it will
        before = snapshot(first.state_dir / "wad.db")
        assert before[0], "the first daemon stored its sessions' events"
        second = serve_again(tmp_path, first.state_dir)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.proc.pid}" in lines[0] and "state folder" in lines[0]
        assert "Traceback" not in second.stderr
        assert snapshot(first.state_dir / "wad.db") == before
        assert not (tmp_path / "second.sock").exists()
        assert (first.state_dir / STATE_LOCK).read_text().strip() == str(first.proc.pid)
        assert httpx.get(first.url + "/healthz").status_code == 200
    finally:
        first.stop()
    # The lock goes with its holder: a daemon on the folder now starts.
    again = spawn_daemon(tmp_path, "--engine", "simulator")
    again.stop()
