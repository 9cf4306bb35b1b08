"""Sessions under the supervisor with the simulator engine, on trio's virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import wait_state

from wad.engines.simulator.engine import SimulatorEngine
from wad.sessions.events import EventLog
from wad.sessions.session import SessionTiming
from wad.sessions.supervisor import Supervisor
from wad.store import Store


class Rig:
    def __init__(self, tmp_path: Path, timing: SessionTiming) -> None:
        self.tmp_path = tmp_path
        self.store = Store(tmp_path / "wad.db")
        self.events = EventLog(self.store)
        self.engine = SimulatorEngine(qr_interval=20.0)
        self.supervisor = Supervisor(
            self.store, self.engine, self.events, tmp_path / "sessions", timing
        )

    async def wait_state(self, device_id: str, state: str) -> None:
        await wait_state(self.events, self.supervisor, device_id, state)


TIMING = SessionTiming(pairing_timeout=120.0, backoff_initial=1.0, backoff_cap=8.0)


@pytest.fixture
async def rig(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, TIMING)
    await nursery.start(rig.supervisor.run)
    yield rig
    nursery.cancel_scope.cancel()


async def test_qr_rotates_and_scan_connects(rig: Rig, autojump_clock: trio.abc.Clock) -> None:
    session = await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    first = session.qr
    await trio.sleep(20.5)
    assert session.qr is not None and session.qr != first  # rotated
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.phone_number == "15550001111"
    assert row.connection_state == "connected"


async def test_pairing_timeout_stops_then_restart_pairs_again(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    start = trio.current_time()
    await rig.wait_state("s1", "stopped")
    assert 120.0 <= trio.current_time() - start < 121.0
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and "no phone linked" in (row.last_error or "")
    await trio.sleep(1000)
    assert session.state == "stopped"  # rests
    session.restart()
    await rig.wait_state("s1", "waiting_qr")


async def test_drop_reconnects_without_qr(rig: Rig, autojump_clock: trio.abc.Clock) -> None:
    session = await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    rig.engine.link("s1").drop()
    await rig.wait_state("s1", "disconnected")
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.next_retry_at is not None
    await rig.wait_state("s1", "connected")
    assert session.qr is None


async def test_unlink_logs_out_and_rests(rig: Rig, autojump_clock: trio.abc.Clock) -> None:
    session = await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    rig.engine.link("s1").unlink()
    await rig.wait_state("s1", "logged_out")
    await trio.sleep(1000)
    assert session.state == "logged_out"
    session.restart()
    await rig.wait_state("s1", "waiting_qr")  # credentials are gone: a new QR


async def test_failures_back_off_with_growing_capped_delays(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    rig = Rig(tmp_path, TIMING)
    rig.engine.offline = True
    await nursery.start(rig.supervisor.run)
    await rig.supervisor.create("s1")
    attempts: list[float] = []
    with rig.events.subscribe() as events:
        async for event in events:
            if event.type == "session.status" and event.payload["state"] == "failed":
                attempts.append(trio.current_time())
                assert "failed to dial" in event.payload["lastError"]
                if len(attempts) == 7:
                    break
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # Equal jitter: each delay lies in [ceiling/2, ceiling], ceiling = 1, 2, 4, 8, 8, ...
    for gap, ceiling in zip(gaps, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= gap <= ceiling + 0.01
    assert gaps[3] > gaps[0]
    nursery.cancel_scope.cancel()


async def test_restore_after_restart_reconnects_paired_session(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with trio.open_nursery() as nursery:
        rig = Rig(tmp_path, TIMING)
        await nursery.start(rig.supervisor.run)
        await rig.supervisor.create("paired")
        await rig.supervisor.create("unpaired")
        await rig.wait_state("paired", "waiting_qr")
        rig.engine.link("paired").scan("15550001111")
        await rig.wait_state("paired", "connected")
        nursery.cancel_scope.cancel()
    rig.store.close()

    async with trio.open_nursery() as nursery:
        rig = Rig(tmp_path, TIMING)  # a new daemon on the same state folder
        with rig.events.subscribe() as events:
            await nursery.start(rig.supervisor.run)
            states: dict[str, list[str]] = {"paired": [], "unpaired": []}
            async for event in events:
                if event.type == "session.status":
                    states[event.device_id].append(event.payload["state"])
                if states["paired"][-1:] == ["connected"] and "waiting_qr" in states["unpaired"]:
                    break
        assert "waiting_qr" not in states["paired"]
        nursery.cancel_scope.cancel()


async def test_delete_removes_everything(rig: Rig, autojump_clock: trio.abc.Clock) -> None:
    await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    folder = rig.supervisor.folder("s1")
    assert any(folder.iterdir())
    assert await rig.supervisor.delete("s1")
    assert not folder.exists()
    assert await rig.store.read(lambda q: q.get_session("s1")) is None
    assert await rig.store.read(lambda q: q.recent_events("s1", ("session.status",), 10)) == []


async def test_a_delete_whose_caller_is_cancelled_still_removes_everything(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    # The client hangs up (or the daemon stops) while the session is stopping: the
    # session is already gone from the supervisor, so its row and files must go too.
    await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    folder = rig.supervisor.folder("s1")
    assert any(folder.iterdir())
    with trio.CancelScope() as scope:
        scope.cancel()
        await rig.supervisor.delete("s1")
    assert "s1" not in rig.supervisor.sessions
    assert not folder.exists()
    assert await rig.store.read(lambda q: q.get_session("s1")) is None


async def test_pending_sends_go_again_with_the_same_id(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    """A send accepted before a crash and never acknowledged is resent on reconnect;
    the network already has it, so the phone still sees it once."""
    await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    rig.engine.link("s1").scan("15550001111")
    await rig.wait_state("s1", "connected")
    folder = rig.supervisor.folder("s1")
    # The network received "one" but the daemon died before recording it as sent;
    # "two" never left.
    await rig.store.run(
        lambda q: q.insert_outgoing("3EB0AAA", "s1", "15550002222@s.whatsapp.net", "text", "one")
    )
    await rig.engine.phone(folder).receive(
        {"id": "3EB0AAA", "to": "15550002222@s.whatsapp.net", "text": "one"}
    )
    await rig.store.run(
        lambda q: q.insert_outgoing("3EB0BBB", "s1", "15550002222@s.whatsapp.net", "text", "two")
    )
    rig.engine.link("s1").drop()
    await rig.wait_state("s1", "disconnected")
    await rig.wait_state("s1", "connected")
    await trio.testing.wait_all_tasks_blocked()
    received = [m["text"] for m in rig.engine.sent(folder)]
    assert received == ["one", "two"]
    assert await rig.store.read(lambda q: q.pending_outgoing("s1")) == []
    assert (await rig.store.read(lambda q: q.get_message("s1", "3EB0BBB")))["status"] == "sent"


async def test_messages_that_arrive_together_commit_together(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    """A run of messages already waiting on the link is stored in one transaction, in
    order, a repeated WhatsApp id once; an event of another kind ends the run."""
    await rig.supervisor.create("s1")
    await rig.wait_state("s1", "waiting_qr")
    link = rig.engine.link("s1")
    link.scan("15550001111")
    await rig.wait_state("s1", "connected")
    await trio.testing.wait_all_tasks_blocked()
    commits: list[int] = []
    rig.store.connection.db.setcommithook(lambda: commits.append(1) or False)
    seen_in_transaction: list[bool] = []
    rig.events.in_transaction.append(
        lambda q, event: seen_in_transaction.append(q.db.in_transaction)
    )
    with rig.events.subscribe() as stream:
        first = link.deliver("15550002222", "one")
        link.deliver("15550002222", "two")
        link.deliver("15550002222", "one again", id=first)  # the network repeats it
        link.deliver("15550002222", "three")
        link.receipt(["NOT-OURS"], "read")  # ends the run; moves nothing
        link.deliver("15550002222", "four")
        await trio.testing.wait_all_tasks_blocked()
        events = []
        while True:
            try:
                events.append(stream.receive_nowait())
            except trio.WouldBlock:
                break
    assert [e.payload["text"] for e in events] == ["one", "two", "three", "four"]
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 4))
    assert commits == [1, 1]  # "one" to "three" together, then "four"
    assert seen_in_transaction == [True] * 4
    listed = await rig.store.read(lambda q: q.list_messages("s1", "in", None, 10))
    assert [m["body"] for m in reversed(listed)] == ["one", "two", "three", "four"]


async def test_take_ready_hands_over_what_has_arrived_without_waiting(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The simulator's link; the neonize link shares the same channel code (engine.py)."""
    engine = SimulatorEngine()
    (tmp_path / "s9").mkdir()
    async with engine.open_link("s9", tmp_path / "s9") as link:
        assert link.take_ready(10) == []  # nothing yet: no wait
        await trio.testing.wait_all_tasks_blocked()
        qr = link.take_ready(10)
        assert [e.kind for e in qr] == ["qr"]
        link.scan("15550001111")
        await trio.testing.wait_all_tasks_blocked()
        ids = [link.deliver("15550002222", f"m{i}") for i in range(5)]
        taken = link.take_ready(3)
        first = await link.events().__anext__()
        rest = link.take_ready(10)
    assert [e.kind for e in taken] == ["connected", "message", "message"]
    assert [e.data["id"] for e in [*taken[1:], first, *rest]] == ids
    assert link.take_ready(10) == []  # closed: empty, no error
