"""wadctl shows the lifecycle: a banned session's end in ``sessions``, the new states in
``status``, and ``set`` changes a session's settings (real daemon, wadctl subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import spawn_daemon
from test_wadctl import rest, wadctl

pytestmark = pytest.mark.slow


def test_set_and_the_states_shown(tmp_path: Path) -> None:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    sock = tmp_path / "wad.sock"
    try:
        wadctl(sock, "create", "life")
        wadctl(sock, "sim", "scan", "life", "15557770002")
        wadctl(sock, "call", "sessions.get", '{"deviceId": "life"}')  # the socket answers
        shown = wadctl(sock, "set", "life", "rejectCalls=true", "rejectCallsMessage=Please write")
        assert "rejectCalls" in shown.stdout and "Please write" in shown.stdout
        one = rest(process, "GET", "/api/sessions/life").json()["session"]
        assert one["rejectCalls"] is True and one["rejectCallsMessage"] == "Please write"
        bad = wadctl(sock, "set", "life", "rejectCals=true", check=False)
        assert bad.returncode != 0 and "rejectCals" in bad.stderr

        wadctl(sock, "call", "sim.ban", json.dumps({"deviceId": "life", "seconds": 3600}))
        row = next(
            line for line in wadctl(sock, "sessions").stdout.splitlines() if line.startswith("life")
        )
        until = rest(process, "GET", "/api/sessions/life").json()["session"]["bannedUntil"]
        assert until and f"banned until {until}" in row
        status = wadctl(sock, "status").stdout
        assert "  banned: 1" in status and "  conflict: 0" in status
        assert "degraded" in status
    finally:
        process.stop()
