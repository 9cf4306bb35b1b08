"""Deliveries survive a daemon restart: pending and in-flight ones are sent by the next run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import pytest
import trio
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from standardwebhooks import Webhook
from webhook_receiver import Received, Receiver

pytestmark = pytest.mark.slow

ENV = {
    "WAD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "WAD_WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,100ms,200ms,200ms,500ms,1s,1s,2s,2s",
    "WAD_SEND_INTERVAL": "0",
    "WAD_QR_INTERVAL": "0.3",  # QR events keep coming until the phone scans
}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MESSAGES = 25


def event(request: Received) -> dict:
    return request.json


async def spawn(tmp_path: Path, state_dir: Path | None = None) -> Process:
    return await trio.to_thread.run_sync(
        lambda: spawn_daemon(tmp_path, "--engine", "simulator", env=ENV, state_dir=state_dir)
    )


@pytest.mark.parametrize("stop", ["terminate", "kill"])
async def test_deliveries_survive_restart(tmp_path: Path, nursery: trio.Nursery, stop: str) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    mode = {"now": "ok"}

    def answer(n: int, request: Received) -> int | None:
        if event(request)["event"] != "message":
            return 200
        return {"ok": 200, "fail": 500, "hold": None, "flaky": 500 if n % 3 == 0 else 200}[
            mode["now"]
        ]

    receiver.answer = answer
    first = await spawn(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=first.url, headers=ADMIN, timeout=30) as api:
            await api.post("/api/sessions", json={"deviceId": "dev1"})
            r = await api.post("/api/sessions/dev1/webhooks", json={"url": receiver.url})
            secret = r.json()["webhook"]["secret"]
            with trio.fail_after(30):
                await receiver.wait_until(
                    lambda: any(event(r)["event"] == "session.qr" for r in receiver.requests)
                )
            r = await api.post(
                "/api/simulator/sessions/dev1/scan", json={"phoneNumber": "15550001111"}
            )
            assert r.status_code == 200, r.text
            mode["now"] = "fail"
            for i in range(MESSAGES):
                r = await api.post(
                    "/api/simulator/sessions/dev1/incoming",
                    json={"from": "15550002222", "message": f"m{i}"},
                )
                assert r.status_code == 200, r.text

            # Every message was stored and tried once (and failed): now hold the retries.
            def tried() -> set[str]:
                return {
                    event(r)["payload"]["id"]
                    for r in receiver.requests
                    if event(r)["event"] == "message"
                }

            with trio.fail_after(30):
                await receiver.wait_until(lambda: len(tried()) == MESSAGES)
            mode["now"] = "hold"
            held = lambda: [r for r in receiver.requests if r.status is None]  # noqa: E731
            with trio.fail_after(30):
                await receiver.wait_until(lambda: len(held()) >= 5)
            stored = {
                m["id"]
                for m in (
                    await api.get("/api/sessions/dev1/messages?direction=in&limit=200")
                ).json()["messages"]
            }
            assert stored == tried()
    finally:
        if stop == "kill":
            first.proc.kill()
            first.proc.wait()
        else:
            await trio.to_thread.run_sync(first.stop)
    in_flight_at_stop = {event(r)["id"] for r in held()}
    mode["now"] = "flaky"
    second = await spawn(tmp_path, state_dir=first.state_dir)
    try:

        def ok() -> set[str]:
            return {
                event(r)["payload"]["id"]
                for r in receiver.answered()
                if event(r)["event"] == "message"
            }

        with trio.fail_after(60):
            await receiver.wait_until(lambda: ok() >= stored)
    finally:
        await trio.to_thread.run_sync(second.stop)
    ids: dict[str, set[str]] = defaultdict(set)
    for request in receiver.requests:
        payload = Webhook(secret).verify(request.body, request.headers)
        ids[payload["id"]].add(request.headers["webhook-id"])
    assert all(headers == {event_id} for event_id, headers in ids.items())
    delivered_after = {event(r)["id"] for r in receiver.answered()}
    assert in_flight_at_stop and in_flight_at_stop <= delivered_after
