"""``wadctl backup`` against a running daemon, then the README's restore: the backup
unpacked into a fresh state folder, a daemon started on it, and everything there.

Real daemons (simulator engine), real wadctl processes, real SQLite files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import apsw
import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# The webhook points at a closed loopback port: it exists, its deliveries fail.
LOOPBACK_HOOKS = {"WAD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def wadctl(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAD_CONTROL_SOCKET", "WAD_STATE_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "wad.ctl.main", "--state-dir", str(state), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def api(process: Process) -> httpx.Client:
    return httpx.Client(base_url=process.url + "/api", headers=ADMIN, timeout=30)


def wait_state(client: httpx.Client, device: str, state: str) -> None:
    for _ in range(200):
        r = client.get(f"/sessions/{device}")
        if r.status_code == 200 and r.json()["session"]["connectionState"] == state:
            return
        subprocess.run(["sleep", "0.05"], check=True)  # polling a daemon process
    raise AssertionError(f"{device} never became {state}: {r.text}")


def fill(process: Process) -> tuple[str, str]:
    """Two sessions, a key, messages both ways with media, a webhook; the key and the
    received image's message id."""
    with api(process) as c:
        for device in ("alpha", "beta"):
            assert c.post("/sessions", json={"deviceId": device}).status_code == 201
        wait_state(c, "alpha", "waiting_qr")
        scan = c.post("/simulator/sessions/alpha/scan", json={"phoneNumber": "15550001111"})
        assert scan.status_code == 200
        wait_state(c, "alpha", "connected")
        key = c.put("/sessions/alpha/api-key", json={}).json()["apiKey"]
        sent = c.post(
            "/sessions/alpha/messages",
            headers={"Authorization": f"Bearer {key}"},
            json={"to": "15550002222", "text": "before the backup"},
        )
        assert sent.status_code == 200, sent.text
        incoming = c.post(
            "/simulator/sessions/alpha/incoming",
            json={
                "from": "15550002222",
                "type": "image",
                "media": {"mimetype": "image/png", "data": base64.b64encode(PNG).decode()},
            },
        )
        assert incoming.status_code == 200, incoming.text
        hook = c.post(
            "/sessions/alpha/webhooks",
            json={"url": "http://127.0.0.1:9/wad", "events": ["message"]},
        )
        assert hook.status_code == 201, hook.text
        received = c.get("/sessions/alpha/messages", params={"direction": "in"}).json()
        return key, received["messages"][0]["id"]


def test_backup_a_running_daemon_and_restore_it(tmp_path: Path) -> None:
    state = tmp_path / "old" / "state"
    state.mkdir(parents=True)
    # The control socket where wadctl --state-dir looks: <state>/wad.sock.
    old = spawn_daemon(
        tmp_path / "old",
        "--engine",
        "simulator",
        state_dir=state,
        control_socket=False,
        env=LOOPBACK_HOOKS,
    )
    try:
        key, photo = fill(old)
        archive = tmp_path / "wad-backup.tar.gz"
        done = wadctl(state, "backup", str(archive))
        assert done.returncode == 0, done.stderr
        assert f"backup written to {archive}" in done.stdout
        assert "sessions: alpha, beta" in done.stdout
        assert "wad.db" in done.stdout
        # A folder too; an existing path is refused (exit 2, bad_request), nothing lost.
        folder = tmp_path / "wad-backup"
        assert wadctl(state, "backup", str(folder)).returncode == 0
        again = wadctl(state, "backup", str(archive))
        assert again.returncode == 2 and "exists already" in again.stderr
        # A relative path is the caller's: wadctl makes it absolute from its folder.
        as_json = wadctl(state, "--json", "backup", "relative.tar", cwd=tmp_path)
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout)["path"] == str(tmp_path / "relative.tar")
        assert tarfile.is_tarfile(tmp_path / "relative.tar")
        with api(old) as c:  # the daemon went on working meanwhile
            assert c.get("/sessions/alpha").json()["session"]["connectionState"] == "connected"
    finally:
        old.stop()

    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert (folder / "wad.db").stat().st_mode & 0o077 == 0
    assert folder.stat().st_mode & 0o777 == 0o700
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"wad.db", "secrets.key", "sessions/alpha", "sessions/beta"} <= names
    assert not {n for n in names if n.endswith(("-wal", "-shm", ".lock", ".sock"))}, names
    # The copied database is whole, in one file.
    db = apsw.Connection(str(folder / "wad.db"))
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()

    # The README's restore: unpack into a new, private folder; start a daemon there.
    restored = tmp_path / "new" / "state"
    restored.mkdir(parents=True, mode=0o700)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(restored)], check=True)
    new = spawn_daemon(
        tmp_path / "new",
        "--engine",
        "simulator",
        state_dir=restored,
        control_socket=False,
        env=LOOPBACK_HOOKS,
    )
    try:
        with api(new) as c:
            sessions = {s["deviceId"] for s in c.get("/sessions").json()["sessions"]}
            assert sessions == {"alpha", "beta"}
            wait_state(c, "alpha", "connected")
            messages = c.get("/sessions/alpha/messages").json()["messages"]
            assert "before the backup" in [m["body"] for m in messages]
            media = c.get(f"/sessions/alpha/messages/{photo}/media")
            assert media.status_code == 200 and media.content == PNG
            hooks = c.get("/sessions/alpha/webhooks").json()["webhooks"]
            assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/wad"]
            # The sealed signing secret is readable: secrets.key came along.
            assert hooks[0]["enabled"] is True
            # The old key still sends.
            sent = c.post(
                "/sessions/alpha/messages",
                headers={"Authorization": f"Bearer {key}"},
                json={"to": "15550002222", "text": "after the restore"},
            )
            assert sent.status_code == 200, sent.text
        assert wadctl(restored, "status").returncode == 0
    finally:
        new.stop()


DIAL_ERROR = "failed to dial whatsapp web websocket"


def tables(path: Path) -> list[str]:
    db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    db.setbusytimeout(5000)  # a live worker's database may be mid-write
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        return [name for (name,) in rows]
    finally:
        db.close()


def test_a_neonize_session_s_whatsmeow_db_is_backed_up(tmp_path: Path) -> None:
    """With the real engine (offline), the worker holds its session's whatsmeow.db open;
    the copy is an intact SQLite database with whatsmeow's tables, and wad.db's copy
    holds the session (the live wad.db keeps its recent commits in its WAL, which a
    plain file copy would leave behind)."""
    state = tmp_path / "state"
    state.mkdir()
    env = {"WAD_BACKOFF_INITIAL": "30"}  # one attempt: the worker stays as it is
    daemon = spawn_daemon(tmp_path, state_dir=state, control_socket=False, env=env)
    creds = state / "sessions" / "real1" / "whatsmeow.db"
    try:
        with api(daemon) as c:
            assert c.post("/sessions", json={"deviceId": "real1"}).status_code == 201
            # The worker has made and migrated its whatsmeow.db once it has dialed (and
            # failed: offline); then it waits its backoff, writing nothing.
            deadline = time.monotonic() + 60
            while DIAL_ERROR not in str(c.get("/sessions/real1").json()["session"]["lastError"]):
                assert time.monotonic() < deadline, "the worker never dialed"
                time.sleep(0.1)  # the worker process, another process, in its own time
        assert "whatsmeow_device" in tables(creds)
        done = wadctl(state, "backup", str(tmp_path / "copy"))
        assert done.returncode == 0, done.stderr
        assert "sessions/real1/whatsmeow.db" in done.stdout
        expected = tables(creds)
    finally:
        daemon.stop()
    copy = tmp_path / "copy"
    assert tables(copy / "sessions" / "real1" / "whatsmeow.db") == expected
    db = apsw.Connection(str(copy / "wad.db"), flags=apsw.SQLITE_OPEN_READONLY)
    assert db.execute("SELECT device_id FROM sessions").fetchall() == [("real1",)]
    db.close()
    assert not list(copy.rglob("*.lock")) and not list(copy.rglob("*-wal"))
