"""Idempotency-Key claims on PostgreSQL, where the store's calls are thread hops (so
claims race there as they never do on SQLite, and a call made after a cancellation
is cancelled at the hop): the same key sent by several clients at once sends once;
a keyed send cancelled while it waits still releases its claim."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import trio
import trio.testing
from conftest import ADMIN_TOKEN, make_config, spawn_daemon, start_daemon

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CLIENTS = 12
ROUNDS = 10

pytestmark = pytest.mark.slow


def _wait_state(client: httpx.Client, device_id: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while client.get(f"/api/sessions/{device_id}").json()["session"]["connectionState"] != state:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # another process's state: nothing to wait on but its answers


def test_one_key_sent_at_once_by_many_clients_sends_once(tmp_path: Path, pg_url: str) -> None:
    daemon = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_DATABASE_URL": pg_url})
    try:
        with httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=15) as c:
            assert c.post("/api/sessions", json={"deviceId": "race"}).status_code == 201
            _wait_state(c, "race", "waiting_qr")
            scan = {"phoneNumber": "15550001111"}
            assert c.post("/api/simulator/sessions/race/scan", json=scan).status_code == 200
            _wait_state(c, "race", "connected")
            key = c.put("/api/sessions/race/api-key", json={}).json()["apiKey"]
        user = {"Authorization": f"Bearer {key}"}
        body = {"to": "15550002222", "text": "once"}

        clients = [
            httpx.Client(base_url=daemon.url, headers=user, timeout=15) for _ in range(CLIENTS)
        ]
        for client in clients:  # each connected before the race
            assert client.get("/api/sessions/race/messages").status_code == 200

        def send(client: httpx.Client, key: str, start: threading.Barrier) -> httpx.Response:
            start.wait()  # all at once
            return client.post(
                "/api/sessions/race/messages", json=body, headers={"Idempotency-Key": key}
            )

        for round_ in range(ROUNDS):
            start = threading.Barrier(CLIENTS)
            with ThreadPoolExecutor(CLIENTS) as pool:
                answers = list(
                    pool.map(send, clients, [f"key-{round_}"] * CLIENTS, [start] * CLIENTS)
                )
            statuses = sorted(r.status_code for r in answers)
            assert set(statuses) <= {200, 409}, [r.text for r in answers]
            sent = {r.json()["id"] for r in answers if r.status_code == 200}
            assert len(sent) == 1, statuses
        for client in clients:
            client.close()
    finally:
        daemon.stop()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT count(*) FROM messages WHERE direction = 'out'").fetchone()
    assert rows == (ROUNDS,)


async def test_a_keyed_send_cancelled_while_it_waits_releases_its_claim(
    tmp_path: Path, pg_url: str, nursery: trio.Nursery
) -> None:
    """Its cleanup (the message's status read, the claim's release) runs after the
    cancellation: on PostgreSQL each store call there is shielded, else it is itself
    cancelled at the thread hop and the claim stays open (held: "still being sent")
    for the daemon's life."""
    config = make_config(tmp_path, database_url=pg_url)
    config.plugin_settings["ratelimit"] = {"send_interval": 3600, "send_queue": 1}
    wad = await start_daemon(nursery, config)
    try:
        await wad.connected_key("d")
        sending = wad.daemon.services.sending
        text = {"to": "15550002222", "type": "text", "text": "paced"}
        assert (await sending.send("d", text, None, "first"))["status"] == "sent"
        scope, done = trio.CancelScope(), trio.Event()

        async def send_paced() -> None:
            with scope:
                await sending.send("d", text, None, "second")
            done.set()

        nursery.start_soon(send_paced)
        await trio.testing.wait_all_tasks_blocked(cushion=0.2)  # it waits for its slot
        assert len(await wad.daemon.store.read(lambda q: q.idempotency_open())) == 1
        scope.cancel()
        with trio.fail_after(10):
            await done.wait()
        assert await wad.daemon.store.read(lambda q: q.idempotency_open()) == []
    finally:
        await wad.close()
