"""``wad serve`` with ``WAD_DATABASE_URL``: a real daemon process (simulator engine)
whose state is on the tests' PostgreSQL server, not in ``wad.db``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import ADMIN_TOKEN, spawn_daemon

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = pytest.mark.slow


def _wait_state(client: httpx.Client, device_id: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        r = client.get(f"/api/sessions/{device_id}", headers=ADMIN)
        if r.json()["session"]["connectionState"] == state:
            return
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)  # another process's state: nothing to wait on but its answers


def test_a_daemon_on_postgresql_pairs_sends_and_reads_back(tmp_path: Path, pg_url: str) -> None:
    daemon = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_DATABASE_URL": pg_url})
    try:
        with httpx.Client(base_url=daemon.url, timeout=15) as c:
            r = c.post("/api/sessions", headers=ADMIN, json={"deviceId": "pg-phone"})
            assert r.status_code == 201, r.text
            _wait_state(c, "pg-phone", "waiting_qr")
            r = c.post(
                "/api/simulator/sessions/pg-phone/scan",
                headers=ADMIN,
                json={"phoneNumber": "15550001111"},
            )
            assert r.status_code == 200, r.text
            _wait_state(c, "pg-phone", "connected")
            key = c.put("/api/sessions/pg-phone/api-key", headers=ADMIN, json={}).json()["apiKey"]
            user = {"Authorization": f"Bearer {key}"}
            r = c.post(
                "/api/messages/send",
                headers=user,
                json={"deviceId": "pg-phone", "number": "1234567890", "message": "on postgres"},
            )
            assert r.status_code == 200 and r.json()["status"] == "sent", r.text
            sent_id = r.json()["id"]
            page = c.get("/api/sessions/pg-phone/messages", headers=user).json()
            assert [(m["id"], m["body"], m["status"]) for m in page["messages"]] == [
                (sent_id, "on postgres", "sent")
            ]
    finally:
        daemon.stop()
    # The rows are on the server (the daemon that wrote them is gone), none in wad.db.
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT device_id, body, status FROM messages").fetchall()
        key_rows = conn.execute("SELECT count(*) FROM api_keys").fetchone()
    assert rows == [("pg-phone", "on postgres", "sent")] and key_rows == (1,)
    assert not (daemon.state_dir / "wad.db").exists()
