"""Fair delivery: endpoints on a receiver that never answers cannot hold up a healthy
endpoint's deliveries (real receivers on loopback), and the slot bookkeeping itself."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing
from conftest import Running
from test_webhooks import add_webhook, connected, start
from wad_plugins.webhooks.fairness import DueQueues, Slots
from wad_plugins.webhooks.outbox import Due
from webhook_receiver import Receiver

from wad.engines.simulator.operations import SimulatorOperations

PHONE = "15550002222"
MESSAGES = 50


def incoming(wad: Running, device_id: str, count: int) -> None:
    operations = SimulatorOperations(wad.daemon.services)
    for i in range(count):
        operations.incoming(device_id, PHONE, f"{device_id} message {i}")


async def test_dead_endpoints_do_not_delay_a_healthy_one(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Four endpoints on a receiver that holds every request (never answers), then a
    healthy endpoint of another session: its 50 deliveries all arrive within 2 s,
    while the dead ones still hang (30 s timeout). Before: the dead ones held all 64
    slots and the healthy one waited for their timeouts."""
    dead = Receiver(answer=lambda n, request: None)
    healthy = Receiver()
    await nursery.start(dead.serve)
    await nursery.start(healthy.serve)
    wad = await start(tmp_path, nursery, timeout=30)
    await connected(wad, "dev1")
    await connected(wad, "dev2")
    for i in range(4):
        await add_webhook(wad, f"{dead.url}/{i}", "dev1", events=["message"])
    await add_webhook(wad, healthy.url, "dev2", events=["message"])

    incoming(wad, "dev1", MESSAGES)  # 200 deliveries to the dead receiver
    with trio.fail_after(10):
        await dead.wait_until(lambda: len(dead.requests) >= 4 * 8)
    await trio.testing.wait_all_tasks_blocked()  # the worker has started all it will
    held = len(dead.requests)

    started = trio.current_time()
    incoming(wad, "dev2", MESSAGES)
    with trio.fail_after(10):
        await healthy.wait_until(lambda: len(healthy.answered()) == MESSAGES)
    elapsed = trio.current_time() - started
    print(f"healthy endpoint: {MESSAGES} deliveries in {elapsed:.3f} s beside {held} held")
    assert elapsed < 2.0
    assert not dead.answered() and not dead.answered(ok=False)  # still hanging
    assert {r.json["payload"]["text"] for r in healthy.requests} == {
        f"dev2 message {i}" for i in range(MESSAGES)
    }
    dead.release.set()
    await wad.close()


async def test_an_endpoint_that_times_out_gets_fewer_slots(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Each timeout halves the endpoint's allowance: after its first round (16 at once)
    it is down to one request at a time, and back up once it answers again."""
    mode = {"hold": True}
    receiver = Receiver(answer=lambda n, request: None if mode["hold"] else 200)
    await nursery.start(receiver.serve)
    wad = await start(tmp_path, nursery, timeout=0.5, retry_schedule="1h")
    await connected(wad)
    await add_webhook(wad, receiver.url, events=["message"])
    worker = wad.daemon.plugins.get_plugin("webhooks").worker
    incoming(wad, "dev1", 40)
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.requests) >= 16)
    await trio.testing.wait_all_tasks_blocked()
    assert len(receiver.requests) == 16  # its whole allowance at once
    # The 16 time out: the allowance halves 16 times, to one.
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.requests) >= 16 + 2)
    await trio.testing.wait_all_tasks_blocked()
    assert len(receiver.requests) == 16 + 2  # before: 16 more at once, each round
    assert worker.statistics()["reducedEndpoints"] == 1
    assert worker.statistics()["inFlight"] == 1
    # Answering again, it grows back (one more slot per answer) to the full 16.
    mode["hold"] = False
    receiver.release.set()
    with trio.fail_after(10):
        while worker.statistics()["reducedEndpoints"]:
            await worker.wait_recorded()
    await wad.close()


def test_fair_share_keeps_room_for_a_newcomer() -> None:
    slots = Slots(total=64, per_endpoint=16)
    # Four busy endpoints, each at its share of 64 // (4 + 1).
    for e in "abcd":
        while slots.room(e, active=4) > 0:
            slots.start(e)
    assert [slots.sending(e) for e in "abcd"] == [12] * 4
    # A fifth finds slots at once, though the others have work queued.
    assert slots.room("e", active=5) == 64 // 6
    # Alone, an endpoint is bound by its own allowance (16), not by the share.
    assert Slots(64, 16).room("a", active=0) == 16
    # Never less than one.
    assert Slots(4, 16).room("z", active=100) == 1


def test_timeouts_halve_and_answers_restore_the_allowance() -> None:
    slots = Slots(total=64, per_endpoint=16)
    for _ in range(16):
        slots.start("dead")
    for _ in range(16):
        slots.finish("dead", answered=False, timed_out=True)
    assert slots.allowance("dead") == 1 and slots.room("dead", active=1) == 1
    slots.start("dead")
    slots.finish("dead", answered=True, timed_out=False)
    assert slots.allowance("dead") == 2
    for _ in range(20):
        slots.start("dead")
        slots.finish("dead", answered=True, timed_out=False)
    assert slots.allowance("dead") == 16
    # A refused connection (no answer, no timeout) changes nothing.
    slots.start("dead")
    slots.finish("dead", answered=False, timed_out=False)
    assert slots.allowance("dead") == 16 and slots.in_flight == 0


def test_slow_endpoints_hold_at_most_half_of_the_pool() -> None:
    slots = Slots(total=8, per_endpoint=4)
    for e in "abcdefgh":  # each timed out once: slow, with an allowance of 2
        slots.start(e)
        slots.finish(e, answered=False, timed_out=True)
    started = 0
    for e in "abcdefgh":
        while slots.room(e, active=8) > 0:
            slots.start(e)
            started += 1
    assert started == 4 and slots.statistics()["slowInFlight"] == 4
    assert slots.room("healthy", active=9) == 1  # the other half is there
    slots.forget("a")  # enabled again: afresh
    assert slots.allowance("a") == 4 and slots.statistics()["slowInFlight"] == 4 - slots.sending(
        "a"
    )


def test_due_queues_take_turns() -> None:
    queues = DueQueues()
    for e, n in (("a", 5), ("b", 2), ("c", 1)):
        queues.extend(e, [Due(i, e, f"evt_{e}{i}", "{}", 0) for i in range(n)])
    order = [due.endpoint_id for due in queues.take(lambda e: 1)]
    assert order == ["a", "b", "c", "a", "b", "a", "a", "a"]
    queues.extend("a", [Due(i, "a", "x", "{}", 0) for i in range(3)])
    queues.discard("a", [0, 2])
    assert [due.id for due in queues.take(lambda e: 1)] == [1]
    queues.extend("b", [Due(1, "b", "x", "{}", 0)])
    assert list(queues.take(lambda e: 0)) == [] and len(queues) == 1
