"""``GET /api/sessions/{id}/webhooks/stats``: each endpoint's deliveries delivered,
failed and pending, and its newest error, against a local receiver (real daemon)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trio
from conftest import make_config, start_daemon
from webhook_receiver import Received, Receiver

from wad.engines.simulator.engine import SimulatorEngine
from wad.engines.simulator.operations import SimulatorOperations

PHONE = "15550002222"


def answer(n: int, request: Received) -> int | None:
    """/ok takes everything but "bad" messages (500); /held never answers."""
    if request.target == "/held":
        return None
    return 500 if b'"bad' in request.body else 200


async def test_each_endpoint_counts_its_deliveries_and_keeps_its_last_error(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    receiver = Receiver(answer=answer)
    await nursery.start(receiver.serve)
    config = make_config(tmp_path)
    # No retries: a refused delivery fails at once.
    config.plugin_settings["webhooks"] = {"allow_networks": "127.0.0.0/8", "retry_schedule": ""}
    wad = await start_daemon(nursery, config, SimulatorEngine())
    await wad.connected_key("dev1")
    made = {}
    for path in ("/ok", "/held", "/quiet"):
        events = ["message.sent"] if path == "/quiet" else ["message"]
        r = await wad.client.post(
            "/api/sessions/dev1/webhooks",
            headers=wad.admin,
            json={"url": receiver.url + path, "events": events},
        )
        assert r.status_code == 201, r.text
        made[path] = r.json()["webhook"]["id"]

    plugin = wad.daemon.plugins.get_plugin("webhooks")

    async def until(condition: Callable[[dict[str, dict]], bool]) -> None:
        """Wait until the figures (read synchronously: no batch can be recorded between
        the check and the wait) satisfy ``condition``."""
        with trio.fail_after(10):
            while not condition(
                {made_path(s["id"]): s for s in await plugin.webhooks.stats("dev1")}
            ):
                await plugin.worker.wait_recorded()

    for text in ("good 1", "bad 1", "good 2"):
        SimulatorOperations(wad.daemon.services).incoming("dev1", PHONE, text)

    async def health() -> dict[str, dict]:
        r = await wad.client.get("/api/sessions/dev1/webhooks/stats", headers=wad.admin)
        assert r.status_code == 200, r.text
        return {made_path(s["id"]): s for s in r.json()["stats"]}

    def made_path(webhook_id: str) -> str:
        return next(p for p, i in made.items() if i == webhook_id)

    await until(lambda s: s["/ok"]["delivered"] + s["/ok"]["failed"] == 3)
    await until(lambda s: s["/held"]["pending"] == 3)
    stats = await health()
    assert list(stats) == ["/ok", "/held", "/quiet"]  # in the order they were added
    ok = stats["/ok"]
    assert (ok["delivered"], ok["failed"], ok["pending"]) == (2, 1, 0)
    assert ok["lastStatusCode"] == 500 and "500" in ok["lastError"]
    assert ok["lastErrorAt"].endswith("Z")
    held = stats["/held"]
    assert (held["delivered"], held["failed"], held["pending"]) == (0, 0, 3)
    assert held["lastError"] is None and held["lastErrorAt"] is None
    assert stats["/quiet"] == {
        "id": made["/quiet"],
        "delivered": 0,
        "failed": 0,
        "pending": 0,
        "lastError": None,
        "lastStatusCode": None,
        "lastErrorAt": None,
    }

    # The held endpoint answers at last: its deliveries are counted as delivered.
    receiver.release.set()
    await until(lambda s: s["/held"]["delivered"] == 3)
    assert (await health())["/held"]["pending"] == 0

    r = await wad.client.get("/api/sessions/nobody/webhooks/stats", headers=wad.admin)
    assert (r.status_code, r.json()["error"]) == (404, "Session not found")
    r = await wad.client.get("/api/sessions/dev1/webhooks/stats")
    assert r.status_code == 401
    await wad.close()
