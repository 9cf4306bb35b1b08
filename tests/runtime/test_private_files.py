"""Nothing the daemon creates is open to other local users: after a full flow, every
file and folder in its state and runtime folders is its user's alone (the control
socket excepted: 0660, for the admin group, by design); folders left open by an
older version are tightened, with a warning."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import httpx
from conftest import ADMIN_TOKEN, follow_state, spawn_daemon

from wad.files import private_dir, private_file

SOCKET_MODE = 0o660
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def modes(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` (itself included) and its permission bits."""
    found = {".": stat.S_IMODE(folder.lstat().st_mode)}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            found[path.relative_to(folder).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def open_to_others(found: dict[str, int]) -> dict[str, str]:
    return {name: oct(mode) for name, mode in found.items() if mode & 0o077}


def full_flow(api: httpx.Client) -> None:
    """Sessions linked, keys, messages and media both ways, a webhook."""
    for device_id in ("dev1", "dev2"):
        assert api.post("/api/sessions", json={"deviceId": device_id}).status_code == 201
        follow_state(api, device_id, "waiting_qr")
        r = api.post(
            f"/api/simulator/sessions/{device_id}/scan", json={"phoneNumber": "15550001111"}
        )
        assert r.status_code == 200, r.text
        follow_state(api, device_id, "connected")
    key = api.put("/api/sessions/dev1/api-key", json={}).json()["apiKey"]
    # Nobody listens there: the deliveries are stored and retried.
    r = api.post("/api/sessions/dev1/webhooks", json={"url": "http://127.0.0.1:9/wad"})
    assert r.status_code == 201, r.text
    pdf = base64.b64encode(b"%PDF-1.4 a report").decode()
    sent = api.post(
        "/api/sessions/dev1/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "to": "15550002222",
            "type": "document",
            "media": {"data": pdf, "mimetype": "application/pdf"},
        },
    )
    assert sent.status_code == 200, sent.text
    got = api.post(
        "/api/simulator/sessions/dev1/incoming",
        json={
            "from": "15550002222",
            "type": "document",
            "media": {"data": pdf, "mimetype": "application/pdf"},
        },
    )
    assert got.status_code == 200, got.text


def test_everything_the_daemon_creates_is_private(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o755)  # as systemd's RuntimeDirectory= makes it
    state = tmp_path / "state"
    daemon = spawn_daemon(
        tmp_path,
        "--engine",
        "simulator",
        # No WAD_ADMIN_TOKEN: the daemon writes its own token file.
        env={
            "WAD_ADMIN_TOKEN": "",
            "RUNTIME_DIRECTORY": str(runtime),
            "WAD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        },
        control_socket=False,
    )
    try:
        token = (state / "admin.token").read_text().strip()
        with httpx.Client(
            base_url=daemon.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            full_flow(api)
            running = modes(state)
            sockets = modes(runtime)
    finally:
        daemon.stop()
    stopped = modes(state)
    # What the flow made is there, so that the check below checks something.
    for name in ("wad.db", "wad.db-wal", "wad.db-shm", "admin.token", "sessions/dev1"):
        assert name in running, sorted(running)
    media = [n for n in running if "/media/" in n]
    assert len(media) >= 2, sorted(running)  # one sent, one received
    assert open_to_others(running) == {}
    assert open_to_others(stopped) == {}
    assert all(mode == 0o700 for name, mode in running.items() if (state / name).is_dir())
    assert sockets.pop("wad.sock") == SOCKET_MODE
    assert open_to_others({k: v for k, v in sockets.items() if k != "."}) == {}
    assert "Traceback" not in daemon.log.read_text()


def test_a_neonize_workers_store_is_private(tmp_path: Path) -> None:
    """whatsmeow's store is created by the worker (Go's SQLite, its own default mode):
    private through the umask the worker inherits. Offline, the session fails to
    dial after the store exists."""
    daemon = spawn_daemon(tmp_path, "--engine", "neonize")
    try:
        with httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=30) as api:
            assert api.post("/api/sessions", json={"deviceId": "n1"}).status_code == 201
            follow_state(api, "n1", "failed")
            found = modes(tmp_path / "state")
    finally:
        daemon.stop()
    assert "sessions/n1/whatsmeow.db" in found, sorted(found)
    assert open_to_others(found) == {}


def test_an_older_open_state_folder_is_tightened_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)  # noqa: S103 (the older, open folder under test)
    # What an older wad left: a readable database and WAL.
    for name in ("wad.db", "wad.db-wal"):
        (state / name).touch()
        os.chmod(state / name, 0o644)
    daemon = spawn_daemon(tmp_path, "--engine", "simulator")
    daemon.stop()
    assert modes(state)["."] == 0o700
    assert open_to_others(modes(state)) == {}
    log = daemon.log.read_text()
    assert f"{state} was open to other users (mode 0755): now 0700" in log
    assert f"{state / 'wad.db'} was open to other users (mode 0644): now 0600" in log


def test_the_helpers_hold_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private_dir(tmp_path / "a" / "b")
        private_file(tmp_path / "a" / "b" / "db", create=True)
        private_file(tmp_path / "a" / "b" / "missing")  # not created without create=True
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b" / "db").stat().st_mode) == 0o600
    assert not (tmp_path / "a" / "b" / "missing").exists()
