"""Bounds on what a dead receiver can make wad keep: one body per event however many
endpoints, at most ``max_pending`` pending deliveries per endpoint (the oldest dropped,
counted, logged once), and endpoints that fail for too long disabled."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio
from conftest import Running, free_port
from test_webhooks import add_webhook, connected, disabled, log, start, until, webhooks
from webhook_receiver import Receiver

from wad.engines.simulator.operations import SimulatorOperations

PHONE = "15550002222"


async def incoming(wad: Running, texts: list[str], device_id: str = "dev1") -> list[str]:
    """Deliver messages to the session; returns their events' ids once all are stored,
    oldest first."""
    ids: list[str] = []
    with wad.daemon.events.subscribe() as events:
        for text in texts:
            SimulatorOperations(wad.daemon.services).incoming(device_id, PHONE, text)
        with trio.fail_after(20):
            async for event in events:
                if event.type == "message":
                    ids.append(event.id)
                    if len(ids) == len(texts):
                        break
    return ids


def webhook_bytes(wad: Running) -> int:
    """Bytes of wad.db's pages that hold the webhook tables and their indexes."""
    return wad.daemon.store.connection.db.execute(
        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'webhook%'"
    ).fetchone()[0]


async def settled(wad: Running) -> None:
    """Wait until every pending delivery was tried once and every attempt recorded (the
    receivers refuse, the retries are later)."""
    worker = wad.daemon.plugins.get_plugin("webhooks").worker
    untried = "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND attempts = 0"

    def busy() -> bool:
        figures = worker.statistics()
        return bool(
            figures["inFlight"]
            or figures["unrecorded"]
            or wad.daemon.store.connection.db.execute(untried).fetchone()[0]
        )

    with trio.fail_after(20):
        while busy():
            await worker.wait_recorded()


async def test_a_body_is_stored_once_for_all_its_endpoints(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """10 endpoints on a dead receiver x 300 messages of 1 KB: 3,000 pending deliveries,
    300 bodies. Before, each delivery carried its own copy (~10x the bytes)."""
    wad = await start(tmp_path, nursery, retry_schedule="1h")
    await connected(wad)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused at once
    for i in range(10):
        await add_webhook(wad, f"{dead}/{i}", events=["message"])
    texts = [f"{i:04d} " + "x" * 1000 for i in range(300)]
    await incoming(wad, texts)
    await settled(wad)
    db = wad.daemon.store.connection.db
    count = "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
    assert db.execute(count).fetchone()[0] == 3000
    used = webhook_bytes(wad)
    rows = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'webhook_deliveries'")
    deliveries = rows.fetchone()[0]
    print(f"webhook tables and indexes: {used / 1e6:.2f} MB, deliveries {deliveries / 1e6:.2f} MB")
    assert deliveries < 3000 * 400  # no body in a delivery (with one: over 1,300 bytes each)
    bodies = db.execute("SELECT count(*), sum(length(body)) FROM webhook_bodies").fetchone()
    assert bodies[0] == 300 and 300 * 1000 < bodies[1] < 300 * 1500  # each once
    await wad.close()


async def test_pending_deliveries_are_capped_per_endpoint(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wad = await start(tmp_path, nursery, retry_schedule="1h", max_pending=20)
    await connected(wad)
    dead = f"http://127.0.0.1:{free_port()}"
    hooks = [await add_webhook(wad, f"{dead}/{i}", events=["message"]) for i in range(3)]
    ids = await incoming(wad, [f"m{i}" for i in range(50)])
    await settled(wad)
    for hook in hooks:
        pending = await log(wad, hook, status="pending")
        assert sorted(d["eventId"] for d in pending) == sorted(ids[-20:])  # the newest kept
        dropped = await log(wad, hook, status="dropped")
        assert sorted(d["eventId"] for d in dropped) == sorted(ids[:30])
        assert all(d["lastError"].startswith("dropped: more than 20") for d in dropped)
    r = await wad.client.get("/metrics", headers=wad.admin)
    assert re.search(r"^wad_webhook_dropped_total 90$", r.text, re.M), r.text
    assert re.search(r'^wad_webhook_deliveries\{status="dropped"\} 90$', r.text, re.M)
    bursts = [r for r in caplog.records if "dropping the oldest" in r.getMessage()]
    assert sorted(r.getMessage().split()[1].rstrip(":") for r in bursts) == sorted(
        h["id"] for h in hooks
    )  # once per endpoint, not once per dropped delivery
    # A dropped delivery can still be sent again by hand; the oldest pending makes room.
    base = f"/api/sessions/dev1/webhooks/{hooks[-1]['id']}/deliveries"
    r = await wad.client.post(f"{base}/{dropped[0]['id']}/redeliver", headers=wad.admin)
    assert r.status_code == 202
    pending = await log(wad, hooks[-1], status="pending")
    assert len(pending) == 20 and dropped[0]["eventId"] in {d["eventId"] for d in pending}
    await wad.close()


async def test_a_burst_of_drops_ends_when_the_endpoint_catches_up(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    mode = {"answer": 503}
    receiver = Receiver(answer=lambda n, request: mode["answer"])
    await nursery.start(receiver.serve)
    wad = await start(tmp_path, nursery, retry_schedule=",".join(["300ms"] * 20), max_pending=10)
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    ids = await incoming(wad, [f"m{i}" for i in range(15)])
    await settled(wad)  # each tried once (and refused) before the receiver comes back
    mode["answer"] = 200

    async def none_pending() -> bool:
        return not await log(wad, hook, status="pending")

    await until(wad, none_pending)
    delivered = {d["eventId"] for d in await log(wad, hook, status="delivered")}
    assert delivered == set(ids[5:]) and len(await log(wad, hook, status="dropped")) == 5
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("overflow")]
    assert len(messages) == 2 and "dropping the oldest" in messages[0]
    assert messages[1] == f"webhook {hook['id']} caught up; 5 deliveries were dropped"
    await wad.close()


async def test_the_cap_is_applied_to_a_backlog_from_before(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    async with trio.open_nursery() as first:  # the first daemon is gone at its end
        wad = await start(tmp_path, first, retry_schedule="1h")
        await connected(wad)
        hook = await add_webhook(wad, f"http://127.0.0.1:{free_port()}", events=["message"])
        ids = await incoming(wad, [f"m{i}" for i in range(30)])
        await settled(wad)
        await wad.close()
    again = await start(tmp_path, nursery, retry_schedule="1h", max_pending=10)
    pending = await webhooks(again).deliveries("dev1", hook["id"], status="pending", limit=200)
    assert sorted(d["eventId"] for d in pending["deliveries"]) == sorted(ids[-10:])
    await again.close()


async def test_an_endpoint_failing_for_too_long_is_disabled(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    """Every attempt failing for ``disable_after_time`` disables the endpoint (long before
    ``disable_after`` deliveries have run out of retries); enabling it resets the run."""
    caplog.set_level(logging.WARNING)
    receiver = Receiver(answer=lambda n, request: 503)
    await nursery.start(receiver.serve)
    wad = await start(
        tmp_path,
        nursery,
        retry_schedule=",".join(["50ms"] * 20),
        disable_after=1000,
        disable_after_time="300ms",
    )
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    base = f"/api/sessions/dev1/webhooks/{hook['id']}"
    await incoming(wad, ["first"])
    await until(wad, lambda: disabled(wad, hook))
    webhook = (await wad.client.get(base, headers=wad.admin)).json()["webhook"]
    assert webhook["disabledReason"].startswith("every attempt failed for 0.")
    assert "(since 20" in webhook["disabledReason"] and webhook["failingSince"]
    assert len(receiver.requests) < 20  # well before the retries ran out
    lines = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert lines == [f"webhook {hook['id']} of session dev1 disabled: {webhook['disabledReason']}"]
    (parked,) = await log(wad, hook, status="pending")
    assert parked["nextAttemptAt"] is None
    receiver.answer = lambda n, request: 200
    r = await wad.client.patch(base, headers=wad.admin, json={"enabled": True})
    enabled = r.json()["webhook"]
    assert enabled["enabled"] is True and enabled["failingSince"] is None
    assert enabled["disabledReason"] is None and enabled["consecutiveFailures"] == 0
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())  # the parked one goes
    await wad.close()
