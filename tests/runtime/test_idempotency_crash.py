"""An Idempotency-Key whose send was cut by ``kill -9`` resolves after the restart: here
the send waited for its pacing slot (nothing stored yet); the retry of the key sends it,
once, and a further retry answers the same. It used to answer 409 "still being sent"
for ever. (A send cut after its message was stored is the crash benchmark's, and
``tests/services/test_claims.py``'s.)"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import apsw
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "bench"))
from benchlib import WadProcess, create_session, prepair, wait_connected  # noqa: E402

from wad.engines.simulator.engine import SENT_LOG  # noqa: E402

PHONE = "15550002222"


def open_claims(db: Path) -> int:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute("SELECT count(*) FROM idempotency WHERE response IS NULL").fetchone()[0]
    finally:
        conn.close()


def received(state: Path, text: str) -> int:
    log = state / "sessions" / "d" / SENT_LOG
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return sum(1 for item in lines if item.get("text") == text)


@pytest.mark.slow
def test_a_keyed_send_killed_while_waiting_its_pace_resolves_after_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    prepair(state, "d")
    env = {"WAD_SEND_INTERVAL": "120"}  # the second send of the session waits 2 minutes
    daemon = WadProcess(state, env=env, log_path=tmp_path / "wad.log").start()
    key = create_session(daemon.url, "d")
    wait_connected(daemon.url, {"d"})
    auth = {"Authorization": f"Bearer {key}"}
    url = daemon.url + "/api/sessions/d/messages"
    first = httpx.post(url, headers=auth, json={"to": PHONE, "text": "first"}, timeout=30)
    assert first.status_code == 200
    keyed = {**auth, "Idempotency-Key": "order-42"}
    body = {"to": PHONE, "text": "second"}
    cut: list[BaseException] = []

    def waits_its_pace() -> None:
        try:
            httpx.post(url, headers=keyed, json=body, timeout=60)
        except httpx.TransportError as exc:
            cut.append(exc)

    client = threading.Thread(target=waits_its_pace)
    client.start()
    deadline = time.monotonic() + 20
    while open_claims(state / "wad.db") == 0:  # another process's store: polled
        assert time.monotonic() < deadline, "the keyed send never claimed its key"
        time.sleep(0.05)
    daemon.kill()
    client.join(30)
    assert cut, "the client saw the kill"

    daemon.start()  # on the same state folder (on another port)
    url = daemon.url + "/api/sessions/d/messages"
    try:
        wait_connected(daemon.url, {"d"})
        retry = httpx.post(url, headers=keyed, json=body, timeout=30)
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "sent"
        again = httpx.post(url, headers=keyed, json=body, timeout=30)
        assert again.status_code == 200 and again.json()["id"] == retry.json()["id"]
        assert received(state, "second") == 1
        assert open_claims(state / "wad.db") == 0
    finally:
        daemon.stop()
