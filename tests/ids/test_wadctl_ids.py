"""``wadctl ids SESSION JID`` against a real daemon process (simulator): a LID gives the
phone number's JID and back; a session that is not connected is a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Process, spawn_daemon
from event_stream import SessionEvents

from wad.ctl.main import EXIT_ERROR
from wad.engines.simulator.contacts import lid_for

pytestmark = pytest.mark.slow


def wadctl(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAD_CONTROL_SOCKET": str(sock)}
    return subprocess.run(
        [sys.executable, "-m", "wad.ctl.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Process, Path]]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process, tmp_path / "wad.sock"
    process.stop()


def test_wadctl_ids_resolves_a_lid_and_a_number(daemon: tuple[Process, Path]) -> None:
    process, sock = daemon
    with SessionEvents(process.url, "cli1") as events:
        assert wadctl(sock, "create", "cli1").returncode == 0
        events.wait_state("waiting_qr")
        refused = wadctl(sock, "ids", "cli1", "15550002222")
        assert refused.returncode == EXIT_ERROR and "not connected" in refused.stderr
        assert wadctl(sock, "sim", "scan", "cli1", "15557770001").returncode == 0
        events.wait_state("connected")
    lid = lid_for("15550002222")
    done = wadctl(sock, "ids", "cli1", lid)
    assert done.returncode == 0, done.stderr
    assert "15550002222@s.whatsapp.net" in done.stdout and lid in done.stdout
    answer = json.loads(wadctl(sock, "--json", "ids", "cli1", "+1 555 000 2222").stdout)
    assert answer["lid"] == lid and answer["phoneNumber"] == "15550002222"
    bad = wadctl(sock, "ids", "cli1", "120363000000000001@g.us")
    assert bad.returncode != 0 and "not a group" in bad.stderr
