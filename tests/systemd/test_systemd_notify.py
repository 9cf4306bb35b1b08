"""The test plays systemd: a datagram socket as NOTIFY_SOCKET, the real daemon as a
process, and every notice it sends checked for order, content and pace."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import httpx
import pytest
from conftest import ADMIN_TOKEN, free_port, serve_command, spawn_daemon
from control_client import control_call
from systemd_manager import FakeManager, reap

pytestmark = pytest.mark.slow

WATCHDOG_USEC = 400_000  # a ping every 0.2 s
PING = WATCHDOG_USEC / 2_000_000


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    fake = FakeManager()
    yield fake
    fake.close()


def start(
    tmp_path: Path, manager: FakeManager, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``wad serve`` under the fake manager; returns at once (READY=1 says when)."""
    port = free_port()
    log = tmp_path / "wad.log"
    full_env = {
        **os.environ,
        "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
        "NOTIFY_SOCKET": manager.address,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        **(env or {}),
    }
    proc = subprocess.Popen(
        serve_command(tmp_path / "state", f"127.0.0.1:{port}", tmp_path / "wad.sock", *args),
        env=full_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def control_status(path: Path) -> dict:
    return control_call(path, "status")


def test_ready_status_watchdog_reload_and_stop(tmp_path: Path, manager: FakeManager) -> None:
    # A session stored by an earlier run: READY=1 must wait for its restore.
    first = spawn_daemon(tmp_path, "--engine", "simulator")
    created = httpx.post(
        first.url + "/api/sessions",
        json={"deviceId": "restored"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    first.stop()

    proc, url = start(tmp_path, manager)
    try:
        ready = manager.wait_for("READY")
        # At READY=1 everything answers: HTTP, and the control socket (the daemon
        # does not take either down afterwards, so answering now proves it was up).
        health = httpx.get(url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert control_status(tmp_path / "wad.sock")["result"] is not None
        assert "1 session" in ready.fields["STATUS"], ready
        # Nothing said READY=1 before this one.
        assert [n for n in manager.notices if "READY" in n] == [ready]

        # The watchdog: a ping every half period. Counted loosely over a window: a
        # process on a busy machine keeps a pace, not a timetable.
        window_start = manager.wait_for("WATCHDOG").at
        window_end = manager.wait_for("WATCHDOG", timeout=10).at + 2.0
        while manager.wait_for("WATCHDOG", timeout=10).at < window_end:
            pass
        pings = manager.between("WATCHDOG", window_start, window_end)
        expected = (window_end - window_start) / PING
        assert expected / 2 <= len(pings) <= expected * 1.5 + 2, (len(pings), expected)

        # A status line follows a session's change (at most one a second).
        httpx.post(
            url + "/api/sessions",
            json={"deviceId": "second"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        while "2 sessions" not in manager.wait_for("STATUS", timeout=15).fields["STATUS"]:
            pass
        statuses = [n.at for n in manager.notices if "STATUS" in n and "READY" not in n]
        assert all(b - a >= 0.9 for a, b in zip(statuses, statuses[1:], strict=False))

        # SIGHUP: RELOADING=1 with the request's monotonic time, then READY=1 again.
        proc.send_signal(signal.SIGHUP)
        reloading = manager.wait_for("RELOADING")
        assert int(reloading.fields["MONOTONIC_USEC"]) > 0
        assert manager.wait_for("READY").at >= reloading.at
        # The control socket's reload is the same reload, with the same notices.
        assert "error" not in control_call(tmp_path / "wad.sock", "reload")
        again = manager.wait_for("RELOADING")
        assert again.at > reloading.at
        assert manager.wait_for("READY").at >= again.at

        proc.send_signal(signal.SIGTERM)
        manager.wait_for("STOPPING")
        assert proc.wait(30) == 0
    finally:
        reap(proc)


def test_a_stopped_process_stops_pinging(tmp_path: Path, manager: FakeManager) -> None:
    """SIGSTOP freezes the whole process: no ping until SIGCONT."""
    proc, _ = start(tmp_path, manager)
    try:
        manager.wait_for("READY")
        manager.wait_for("WATCHDOG")
        proc.send_signal(signal.SIGSTOP)
        # A ping sent just before the stop may still be on its way: look from 0.1 s on.
        quiet_from = time.monotonic() + 0.1
        # Waiting for a notice that must not come (7 ping periods).
        with pytest.raises(AssertionError, match="no WATCHDOG notice"):
            while manager.wait_for("WATCHDOG", timeout=1.5).at < quiet_from:
                pass
        proc.send_signal(signal.SIGCONT)
        assert manager.wait_for("WATCHDOG", timeout=5).at > quiet_from
    finally:
        reap(proc)


def test_an_unwritable_store_stops_pinging(tmp_path: Path, manager: FakeManager) -> None:
    """Another process holding wad.db's write lock: the daemon's loop runs, but it
    cannot write, so it must not tell systemd it is healthy."""
    proc, url = start(tmp_path, manager)
    try:
        manager.wait_for("READY")
        manager.wait_for("WATCHDOG")
        blocker = apsw.Connection(str(tmp_path / "state" / "wad.db"))
        blocker.execute("BEGIN EXCLUSIVE")
        # A ping already under way when the lock was taken may still arrive; after
        # the probe's lock timeout (0.25 s) none may.
        quiet_from = time.monotonic() + 0.35
        with pytest.raises(AssertionError, match="no WATCHDOG notice"):
            while manager.wait_for("WATCHDOG", timeout=2.0).at < quiet_from:
                pass
        # ...while the loop itself still serves (reads do not need the write lock).
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        blocker.execute("ROLLBACK")
        blocker.close()
        manager.wait_for("WATCHDOG", timeout=5)
        log = (tmp_path / "wad.log").read_text()
        assert "the store cannot be written" in log and "writable again" in log
    finally:
        reap(proc)
