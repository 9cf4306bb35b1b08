"""The supervisor as the cluster's ``SessionRunner``, with the simulator engine on a
PostgreSQL store: start runs a session from its row, stop waits for its engine
connection to close, stop_all ends every connection before it returns (no
checkpoint), and a start under way across a stop_all starts nothing."""

from __future__ import annotations

import threading
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
from wad.store.postgres import PostgresStore


class Rig:
    def __init__(self, tmp_path: Path, pg_url: str) -> None:
        self.pg = PostgresStore(pg_url, node="test", path=tmp_path / "wad.db")
        store: Store = self.pg
        self.store = store
        self.events = EventLog(store)
        self.engine = SimulatorEngine(qr_interval=20.0)
        self.engine.attach_store(store, "postgresql")
        self.supervisor = Supervisor(store, self.engine, self.events, tmp_path / "s", TIMING)

    async def wait_state(self, device_id: str, state: str) -> None:
        await wait_state(self.events, self.supervisor, device_id, state)

    async def linked(self, device_id: str) -> None:
        await self.store.run(lambda q: q.create_session(device_id))
        await self.supervisor.start(device_id)
        await self.wait_state(device_id, "waiting_qr")
        self.engine.link(device_id).scan("15550001111")
        await self.wait_state(device_id, "connected")


TIMING = SessionTiming(pairing_timeout=120.0, backoff_initial=1.0, backoff_cap=8.0)


@pytest.fixture
async def rig(tmp_path: Path, pg_url: str, nursery: trio.Nursery) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, pg_url)
    await nursery.start(rig.supervisor.run)
    yield rig
    nursery.cancel_scope.cancel()
    rig.pg.close()


async def test_stop_all_ends_every_connection_before_it_returns(rig: Rig) -> None:
    await rig.linked("s1")
    await rig.linked("s2")
    assert len(rig.engine.live_links()) == 2
    rig.supervisor.stop_all()
    # No checkpoint since: nothing of either session is connected any more.
    assert rig.engine.live_links() == []
    assert rig.supervisor.sessions == {}
    # Given back, a session starts again once its old task has ended, still linked.
    await rig.supervisor.start("s1")
    await rig.wait_state("s1", "connected")
    assert set(rig.supervisor.sessions) == {"s1"}


async def test_stop_waits_for_the_connection_to_close(rig: Rig) -> None:
    await rig.linked("s1")
    await rig.supervisor.stop("s1")
    assert rig.engine.live_links() == []
    assert rig.supervisor.get("s1") is None
    # Its row and files stay: another node may run it next.
    assert await rig.store.read(lambda q: q.get_session("s1")) is not None


async def test_a_start_under_way_across_a_fence_starts_nothing(rig: Rig) -> None:
    await rig.store.run(lambda q: q.create_session("s1"))
    # Every pooled connection busy: the start waits for one to read the row.
    release = threading.Event()
    async with trio.open_nursery() as busy:
        for _ in range(int(rig.pg.pool.limiter.total_tokens)):
            busy.start_soon(rig.store.read, lambda q: release.wait(10))
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as starting:
            starting.start_soon(rig.supervisor.start, "s1")
            await trio.testing.wait_all_tasks_blocked()
            rig.supervisor.stop_all()  # the node fences while the start waits
            release.set()
    # The start has returned: it started nothing.
    assert rig.supervisor.get("s1") is None
    assert rig.engine.attempts["s1"] == 0
