"""Under systemd (``JOURNAL_STREAM`` set) every line, the neonize workers' included,
is ``<priority>logger: message`` with no timestamp: the journal adds its own."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, spawn_daemon

pytestmark = pytest.mark.slow
DIAL_ERROR = "failed to dial whatsapp web websocket"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def test_journal_lines_with_a_neonize_worker(tmp_path: Path) -> None:
    env = {"JOURNAL_STREAM": "8:12345", "WAD_BACKOFF_INITIAL": "0.5", "WAD_BACKOFF_CAP": "1"}
    daemon = spawn_daemon(tmp_path, "--log-level", "DEBUG", env=env)  # engine: neonize
    try:
        with httpx.Client(
            base_url=daemon.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as http:
            assert http.post("/api/sessions", json={"deviceId": "journal1"}).status_code == 201
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # polling another process's state
                session = http.get("/api/sessions/journal1").json()["session"]
                if DIAL_ERROR in str(session.get("lastError")):
                    break
                time.sleep(0.05)
            assert DIAL_ERROR in str(session.get("lastError"))
    finally:
        daemon.stop()
    lines = daemon.log.read_text().splitlines()
    assert lines
    bad = [line for line in lines if not re.match(r"<[0-7]>\S", line) or TIMESTAMP.search(line)]
    assert bad == []
    # The worker's own lines came through the daemon's logger, with its session.
    # (neonize's Python logger and whatsmeow's Go logger both).
    worker = [line for line in lines if "wad.worker: session journal1: " in line]
    assert any("neonize" in line for line in worker)
    assert any("whatsmeow" in line for line in worker)
    assert any(line.startswith("<7>") for line in lines)  # DEBUG maps to priority 7
