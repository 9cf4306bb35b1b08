"""SIGTERM lets open requests finish (issue 13, item 4): a send waiting for its
pacing slot either completes or is answered 503 before its connection closes,
never a dropped connection; its row and its idempotency key agree with the answer.

A real ``wad serve`` process, a session already paired with the simulated network,
the send pace on (``WAD_SEND_INTERVAL``): the first send takes the slot, the second
waits for the next one; SIGTERM comes while it waits. Before the fix the root
nursery was cancelled at once and the waiting send got "Server disconnected".
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import apsw
import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from paired import connected_key, paired_state

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEVICE = "paced"
PEER = "15550002222"


def requests_running(daemon: Process) -> int:
    """Requests the daemon is handling, besides the scrape that asks."""
    text = httpx.get(daemon.url + "/metrics", headers=ADMIN, timeout=10).text
    line = next(ln for ln in text.splitlines() if ln.startswith('wad_http{figure="requests"}'))
    return int(float(line.split()[-1])) - 1


def send(url: str, key: str, text: str, idempotency_key: str, out: dict[str, object]) -> None:
    """One send in a thread of its own; what came back (or the transport error) in ``out``."""
    try:
        r = httpx.post(
            f"{url}/api/sessions/{DEVICE}/messages",
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key},
            json={"to": PEER, "text": text},
            timeout=60,
        )
        out["status"], out["body"] = r.status_code, r.json()
    except httpx.TransportError as exc:
        out["error"] = repr(exc)


def stop_while_waiting(daemon: Process, key: str) -> dict[str, object]:
    """Send once (it takes the slot), send again (it waits), SIGTERM while it waits."""
    first: dict[str, object] = {}
    send(daemon.url, key, "first", "key-1", first)
    assert first["status"] == 200, first
    waiting: dict[str, object] = {}
    thread = threading.Thread(target=send, args=(daemon.url, key, "second", "key-2", waiting))
    thread.start()
    deadline = time.monotonic() + 10
    while requests_running(daemon) < 1:  # the second send reached the daemon
        assert time.monotonic() < deadline, "the second send never arrived"
        time.sleep(0.02)
    daemon.proc.send_signal(signal.SIGTERM)
    thread.join(60)
    assert daemon.proc.wait(30) == 0
    return waiting


def rows(state_dir: Path) -> dict[str, str]:
    """The stored outgoing messages, text -> status."""
    db = apsw.Connection(str(state_dir / "wad.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {
            body: status
            for body, status in db.execute(
                "SELECT body, status FROM messages WHERE direction='out'"
            )
        }
    finally:
        db.close()


@pytest.mark.slow
def test_a_send_waiting_its_turn_completes_when_its_slot_is_before_the_deadline(
    tmp_path: Path,
) -> None:
    state = paired_state(tmp_path, DEVICE)
    daemon = spawn_daemon(
        tmp_path, "--engine", "simulator", env={"WAD_SEND_INTERVAL": "2"}, state_dir=state
    )
    try:
        key = connected_key(daemon.url, DEVICE)
        started = time.monotonic()
        waiting = stop_while_waiting(daemon, key)
    finally:
        daemon.stop()
    # Its slot came 2-3 s after the first send, well within the 10 s deadline.
    assert waiting.get("status") == 200, waiting
    assert waiting["body"]["status"] == "sent"  # type: ignore[index]
    assert time.monotonic() - started < 10
    assert rows(state) == {"first": "sent", "second": "sent"}


@pytest.mark.slow
def test_a_send_still_waiting_at_the_deadline_gets_503_and_its_key_stays_usable(
    tmp_path: Path,
) -> None:
    state = paired_state(tmp_path, DEVICE)
    env = {"WAD_SEND_INTERVAL": "60", "WAD_SHUTDOWN_TIMEOUT": "1"}
    daemon = spawn_daemon(tmp_path, "--engine", "simulator", env=env, state_dir=state)
    try:
        key = connected_key(daemon.url, DEVICE)
        started = time.monotonic()
        waiting = stop_while_waiting(daemon, key)
        stopped_in = time.monotonic() - started
    finally:
        daemon.stop()
    assert waiting.get("status") == 503, waiting  # an answer, not a dropped connection
    assert "stopping" in waiting["body"]["error"]  # type: ignore[index]
    assert waiting["body"]["code"] == "unavailable"  # type: ignore[index]
    assert stopped_in < 8  # the 1 s deadline, not the 60 s slot
    # Nothing half-done: the refused send has no row, and after a restart the
    # client's retry with the same key is sent (the key is not stuck).
    assert rows(state) == {"first": "sent"}
    again = spawn_daemon(tmp_path, "--engine", "simulator", env=env, state_dir=state)
    try:
        deadline = time.monotonic() + 10
        retried: dict[str, object] = {}
        while True:  # the restored session reconnects by itself
            send(again.url, key, "second", "key-2", retried)
            if retried.get("status") != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        again.stop()
    assert retried.get("status") == 200, retried
    assert rows(state) == {"first": "sent", "second": "sent"}
