"""Lifecycle truth on trio's virtual clock: another client takes over (conflict, no
reconnect), a temporary ban (banned until it ends, one attempt then), a silent dead
connection (probed, restarted), failing keep-alives (degraded, then a reconnect),
an outdated client (failed, no retry storm); each within a bounded time, with the
connection attempts counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import wait_state

from wad.engines.simulator import lifecycle
from wad.engines.simulator.engine import SimulatorEngine
from wad.metrics.registry import Metrics
from wad.sessions.events import EventLog
from wad.sessions.liveness import LivenessTiming
from wad.sessions.session import Session, SessionTiming
from wad.sessions.supervisor import Supervisor
from wad.store import Store

LIVENESS = LivenessTiming(interval=30.0, timeout=10.0, degraded_limit=90.0)
TIMING = SessionTiming(
    pairing_timeout=120.0, backoff_initial=1.0, backoff_cap=8.0, liveness=LIVENESS
)


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.store = Store(tmp_path / "wad.db")
        self.events = EventLog(self.store)
        self.metrics = Metrics()
        self.events.after_commit.append(self.metrics.observe_event)
        self.engine = SimulatorEngine(qr_interval=20.0)
        self.supervisor = Supervisor(
            self.store, self.engine, self.events, tmp_path / "sessions", TIMING
        )
        self.statuses: list[dict[str, object]] = []
        self.events.after_commit.append(
            lambda e: self.statuses.append(e.payload) if e.type == "session.status" else None
        )

    async def wait_state(self, device_id: str, state: str) -> None:
        await wait_state(self.events, self.supervisor, device_id, state)

    async def connected(self, device_id: str = "s1") -> Session:
        session = await self.supervisor.create(device_id)
        assert session is not None
        await self.wait_state(device_id, "waiting_qr")
        self.engine.link(device_id).scan("15550001111")
        await self.wait_state(device_id, "connected")
        return session


@pytest.fixture
async def rig(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    await nursery.start(rig.supervisor.run)
    yield rig
    nursery.cancel_scope.cancel()


async def test_replaced_rests_in_conflict_without_reconnecting(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    lifecycle.replace(rig.engine.link("s1"))
    await rig.wait_state("s1", "conflict")
    await trio.sleep(3600)  # an hour later: still there, and no attempt was made
    assert session.state == "conflict" and rig.engine.attempts["s1"] == 1
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.connection_state == "conflict"
    assert "another client" in (row.last_error or "") and row.next_retry_at is None
    assert rig.statuses[-1]["cause"] == "replaced"
    assert rig.metrics.reconnects.values[(("cause", "replaced"),)] == 1
    session.restart()  # the administrator takes it back
    await rig.wait_state("s1", "connected")
    assert rig.engine.attempts["s1"] == 2


async def test_a_ban_waits_for_its_end_then_connects_once(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    start = trio.current_time()
    lifecycle.ban(rig.engine.link("s1"), 600, "SEND_TO_TOO_MANY_PEOPLE")
    await rig.wait_state("s1", "banned")
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.next_retry_at is not None
    assert "SEND_TO_TOO_MANY_PEOPLE" in (row.last_error or "")
    assert rig.statuses[-1]["bannedUntil"] == row.next_retry_at
    await trio.sleep(599)
    assert session.state == "banned" and rig.engine.attempts["s1"] == 1  # no attempt yet
    await rig.wait_state("s1", "connected")
    assert 600 <= trio.current_time() - start < 602
    assert rig.engine.attempts["s1"] == 2  # exactly one attempt, after the ban
    assert rig.metrics.reconnects.values[(("cause", "banned"),)] == 1


async def test_an_early_restart_during_a_ban_is_banned_again_not_a_storm(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    lifecycle.ban(rig.engine.link("s1"), 600, "BLOCKED_BY_USERS")
    await rig.wait_state("s1", "banned")
    await trio.sleep(100)
    session.restart()  # an administrator tries anyway: WhatsApp refuses, 500 s left
    await rig.wait_state("s1", "connecting")
    await rig.wait_state("s1", "banned")
    assert rig.engine.attempts["s1"] == 2
    await trio.sleep(499)
    assert session.state == "banned" and rig.engine.attempts["s1"] == 2
    await rig.wait_state("s1", "connected")
    assert rig.engine.attempts["s1"] == 3


async def test_a_silent_connection_is_probed_and_restarted(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    silenced_at = trio.current_time()
    lifecycle.silence(rig.engine.link("s1"))
    await rig.wait_state("s1", "disconnected")
    # quiet for the interval, then a probe that times out
    took = trio.current_time() - silenced_at
    assert (
        LIVENESS.interval + LIVENESS.timeout - 1 <= took <= LIVENESS.interval + LIVENESS.timeout + 1
    )
    assert rig.statuses[-1]["cause"] == "unresponsive"
    assert "no answer to a probe" in str(rig.statuses[-1]["lastError"])
    await rig.wait_state("s1", "connected")
    assert rig.engine.attempts["s1"] == 2
    assert rig.metrics.reconnects.values[(("cause", "unresponsive"),)] == 1
    # A healthy quiet connection is probed and left alone: no more attempts.
    await trio.sleep(600)
    assert session.state == "connected" and rig.engine.attempts["s1"] == 2


async def test_failing_keepalives_degrade_then_restore_or_reconnect(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    link = rig.engine.link("s1")
    lifecycle.keepalive(link, failing=True)
    await trio.sleep(1)
    assert session.degraded and rig.statuses[-1]["degraded"] is True
    assert rig.statuses[-1]["state"] == "connected"
    lifecycle.keepalive(link, failing=False)
    await trio.sleep(1)
    assert not session.degraded and rig.statuses[-1]["degraded"] is False
    # Failing for longer than the limit: the connection is restarted, once.
    lifecycle.keepalive(link, failing=True)
    degraded_at = trio.current_time()
    await rig.wait_state("s1", "disconnected")
    assert (
        LIVENESS.degraded_limit <= trio.current_time() - degraded_at < LIVENESS.degraded_limit + 1
    )
    assert rig.statuses[-1]["cause"] == "degraded" and rig.statuses[-1]["degraded"] is False
    await rig.wait_state("s1", "connected")
    assert not session.degraded and rig.engine.attempts["s1"] == 2
    assert rig.metrics.reconnects.values[(("cause", "degraded"),)] == 1


async def test_an_outdated_client_fails_once_and_rests(
    rig: Rig, autojump_clock: trio.abc.Clock
) -> None:
    session = await rig.connected()
    rig.engine.link("s1").emit("outdated", reason="WhatsApp rejected this client version")
    await rig.wait_state("s1", "failed")
    await trio.sleep(3600)
    assert session.state == "failed" and rig.engine.attempts["s1"] == 1
    row = await rig.store.read(lambda q: q.get_session("s1"))
    assert row is not None and "client version" in (row.last_error or "")
    assert row.next_retry_at is None
    assert rig.metrics.reconnects.values[(("cause", "outdated"),)] == 1


async def test_states_survive_a_daemon_restart(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    rig = Rig(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.supervisor.run)
        await rig.connected("a")
        await rig.connected("b")
        lifecycle.replace(rig.engine.link("a"))
        lifecycle.ban(rig.engine.link("b"), 300, "BROADCAST_LIST")
        await rig.wait_state("a", "conflict")
        await rig.wait_state("b", "banned")
        nursery.cancel_scope.cancel()
    # The next daemon: the replaced one rests, the banned one waits for the ban's end
    # (on the wall clock: the ban's end was stored as a time).
    again = Supervisor(rig.store, rig.engine, rig.events, tmp_path / "sessions", TIMING)
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)
        await trio.sleep(100)
        assert again.sessions["a"].state == "conflict"
        assert again.sessions["b"].state == "banned"
        assert rig.engine.attempts == {"a": 1, "b": 1}
        nursery.cancel_scope.cancel()
