"""The cluster's live feed and cache invalidation on a real PostgreSQL server
(wad.store.postgres.notify, .caches): two stores on one database stand for two
nodes. Every committed event reaches the other's listener once, in commit order,
never one that rolled back; a listener whose connection the server ends replays,
once it listens again, what was committed meanwhile; a key revoked through one store
stops being served from the other's cache as soon as the notification arrives."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
from pgserver import PgServer

from wad.auth.logins import DashboardLogins
from wad.store import StoredEvent
from wad.store.database import Queries
from wad.store.postgres import PostgresStore, notify
from wad.store.postgres.caches import CacheState, Guarded


class Heard:
    """What one store's listener handed out, and whether it reported a gap."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.gaps = 0
        self.changed = trio.Event()

    def deliver(self, events: list[StoredEvent]) -> None:
        self.events.extend(events)
        self._wake()

    def gap(self) -> None:
        self.gaps += 1
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            while not condition():
                await self.changed.wait()


class Node:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.heard = Heard()


@pytest.fixture
async def nodes(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    a = Node(PostgresStore(pg_url, path=tmp_path / "a.db", node="a"))
    b = Node(PostgresStore(pg_url, path=tmp_path / "b.db", node="b"))
    async with trio.open_nursery() as nursery:
        for node in (a, b):
            await nursery.start(node.store.listen, node.heard.deliver, node.heard.gap)
        yield a, b
        nursery.cancel_scope.cancel()
    a.store.close()
    b.store.close()


def _emit(device: str, n: int) -> Callable[[Queries], StoredEvent]:
    return lambda q: q.append_event(device, "session.status", {"n": n})


async def _cached(store: PostgresStore, read: Callable[[Queries], Any]) -> Any:
    """Read until the answer is kept: a notification of the writes just before (the
    store's own too) may drop one read's value, as it should."""
    with trio.fail_after(5):
        while True:
            value = await store.read(read)
            if store.caches.key_owner or store.caches.settings:
                return value
            await trio.sleep(0.01)


def _listener_pid(server: PgServer, node: str) -> int:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (f"wad {node} listener",),
        ).fetchone()
    assert row is not None, "no listener connection"
    return int(row[0])


def _admin(server: PgServer, sql: str, *args: Any) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql, args or None)


@contextlib.contextmanager
def listener_cut_off(server: PgServer, url: str, node: str = "a") -> Iterator[None]:
    """``node``'s listening connection ended by the server, and new connections to
    the database refused (the stores' pooled ones stay) until the block is left: the
    listener cannot listen again before."""
    dbname = url.split("/")[-1].split("?")[0]
    _admin(server, f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS false")
    try:
        _admin(server, "SELECT pg_terminate_backend(%s)", _listener_pid(server, node))
        yield
    finally:
        _admin(server, f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS true")


async def test_every_committed_event_reaches_every_node_once_in_commit_order(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await b.store.run(lambda q: [q.create_session(d) for d in ("s1", "s2")])
    written: list[StoredEvent] = []
    for n in range(30):
        written.append(await b.store.run(_emit("s1" if n % 3 else "s2", n)))
    # Several in one transaction: announced together at its commit, in their order.
    written += await b.store.run(lambda q: [_emit("s1", n)(q) for n in (100, 101, 102)])

    class Rollback(Exception):
        pass

    def doomed(q: Queries) -> None:
        q.append_event("s1", "session.status", {"n": "rolled back"})
        raise Rollback

    with pytest.raises(Rollback):
        await b.store.run(doomed)
    written.append(await b.store.run(_emit("s2", 200)))
    for node in (a, b):
        await node.heard.until(lambda node=node: len(node.heard.events) >= len(written))
    await trio.sleep(0.3)  # and nothing more comes (the rolled-back event)
    assert [e.id for e in a.heard.events] == [e.id for e in written]
    assert [e.id for e in b.heard.events] == [e.id for e in written]
    assert a.heard.events[0] == written[0]  # the whole event, read back from its row
    for device in ("s1", "s2"):
        seqs = [e.seq for e in a.heard.events if e.device_id == device]
        assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))


async def test_a_session_deleted_on_one_node_is_told_on_every_node(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await b.store.run(lambda q: q.create_session("s1"))
    first = await b.store.run(_emit("s1", 1))
    # (Heard before the delete: once deleted, its events' rows are gone to be read.)
    await a.heard.until(lambda: len(a.heard.events) == 1)
    await b.heard.until(lambda: len(b.heard.events) == 1)
    await b.store.run(lambda q: q.delete_session("s1"))
    for node in (a, b):
        await node.heard.until(lambda node=node: len(node.heard.events) >= 2)
        told, deleted = node.heard.events
        assert told == first
        assert (deleted.type, deleted.device_id, deleted.seq) == ("session.deleted", "s1", 0)
        assert deleted.payload == {"deviceId": "s1"}


async def test_many_writers_at_once_each_event_once_in_seq_order(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    devices = [f"s{i}" for i in range(4)]
    await b.store.run(lambda q: [q.create_session(d) for d in devices])

    async def writer(store: PostgresStore, device: str) -> None:
        for n in range(25):
            await store.run(_emit(device, n))

    async with trio.open_nursery() as nursery:
        for i, device in enumerate(devices):
            nursery.start_soon(writer, (a, b)[i % 2].store, device)
            nursery.start_soon(writer, (b, a)[i % 2].store, device)
    for node in (a, b):
        await node.heard.until(lambda node=node: len(node.heard.events) >= 200)
        ids = [e.id for e in node.heard.events]
        assert len(ids) == len(set(ids)) == 200
        for device in devices:
            seqs = [e.seq for e in node.heard.events if e.device_id == device]
            assert seqs == list(range(1, 51))


async def test_a_listener_cut_off_replays_what_was_committed_meanwhile(
    nodes: tuple[Node, Node], pg_server: PgServer, pg_url: str
) -> None:
    a, b = nodes
    await b.store.run(lambda q: q.create_session("s1"))
    before = [await b.store.run(_emit("s1", n)) for n in range(3)]
    await a.heard.until(lambda: len(a.heard.events) == 3)
    assert a.store.listener is not None
    # New connections refused (the stores' pooled ones stay), then A's listener ended:
    # it cannot listen again until the writes below are committed.
    with listener_cut_off(pg_server, pg_url):
        meanwhile = [await b.store.run(_emit("s1", n)) for n in range(3, 10)]
        await trio.sleep(0.5)  # A tries to reconnect, and is refused
        assert len(a.heard.events) == 3
    after = await b.store.run(_emit("s1", 10))
    written = before + meanwhile + [after]
    await a.heard.until(lambda: len(a.heard.events) >= len(written))
    await trio.sleep(0.2)
    assert [e.id for e in a.heard.events] == [e.id for e in written]
    assert a.store.listener.reconnects >= 1
    assert a.store.listener.replayed >= len(meanwhile)  # and `after`, if it came first
    assert a.heard.gaps == 0


async def test_more_missed_than_a_replay_holds_ends_the_streams(
    nodes: tuple[Node, Node], pg_server: PgServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    monkeypatch.setattr(notify, "CATCH_UP_MAX", 5)
    monkeypatch.setattr(notify, "MARGIN", 2)
    await b.store.run(lambda q: q.create_session("s1"))
    with listener_cut_off(pg_server, pg_url):
        for n in range(8):
            await b.store.run(_emit("s1", n))
    await a.heard.until(lambda: a.heard.gaps == 1)
    assert a.heard.events == []
    # It listens on from the newest event.
    later = await b.store.run(_emit("s1", 99))
    await a.heard.until(lambda: len(a.heard.events) == 1)
    assert a.heard.events == [later]


async def test_a_key_revoked_on_one_node_is_refused_on_the_other_once_announced(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await b.store.run(lambda q: q.create_session("s1"))
    await b.store.run(lambda q: q.set_api_key("s1", "h1", "wad_"))
    await b.store.run(lambda q: q.set_session_settings("s1", {"cap": 1}))
    await trio.sleep(0.1)
    assert await _cached(a.store, lambda q: q.session_for_key("h1")) == "s1"
    assert await a.store.read(lambda q: q.session_settings("s1")) == {"cap": 1}
    # Cached now: the next lookups read no table.
    assert a.store.caches.key_owner == {"h1": "s1"}
    assert a.store.caches.settings == {"s1": {"cap": 1}}
    windows: dict[str, float] = {}
    began = time.monotonic()
    await b.store.run(lambda q: q.set_session_settings("s1", {"cap": 2}))
    while await a.store.read(lambda q: q.session_settings("s1")) != {"cap": 2}:
        await trio.sleep(0.001)
    windows["settings"] = time.monotonic() - began
    began = time.monotonic()
    await b.store.run(lambda q: q.revoke_api_key("s1"))
    while await a.store.read(lambda q: q.session_for_key("h1")) is not None:
        await trio.sleep(0.001)
    windows["key"] = time.monotonic() - began
    print(f"stale windows after the commit: {windows}")
    assert max(windows.values()) < 1.0
    # A key written behind the stores' back (as by any other writer) is announced too.
    await b.store.run(lambda q: q.set_api_key("s1", "h2", "wad_"))
    assert await a.store.read(lambda q: q.session_for_key("h2")) == "s1"
    await b.store.run(lambda q: q.db.execute("DELETE FROM sessions WHERE device_id = 's1'"))
    with trio.fail_after(5):
        while await a.store.read(lambda q: q.session_for_key("h2")) is not None:
            await trio.sleep(0.001)


async def test_nothing_is_cached_while_the_listener_is_away(
    nodes: tuple[Node, Node], pg_server: PgServer, pg_url: str
) -> None:
    a, b = nodes
    await b.store.run(lambda q: q.create_session("s1"))
    await b.store.run(lambda q: q.set_api_key("s1", "h1", "wad_"))
    assert await _cached(a.store, lambda q: q.session_for_key("h1")) == "s1"
    assert a.store.caches.key_owner == {"h1": "s1"}
    with listener_cut_off(pg_server, pg_url):
        with trio.fail_after(5):
            while a.store.caches.state.live:
                await trio.sleep(0.01)
        assert a.store.caches.key_owner == {}
        assert await a.store.read(lambda q: q.session_for_key("h1")) == "s1"
        assert a.store.caches.key_owner == {}  # read, not kept
    with trio.fail_after(10):
        while not a.store.caches.state.live:
            await trio.sleep(0.01)
    assert await _cached(a.store, lambda q: q.session_for_key("h1")) == "s1"
    assert a.store.caches.key_owner == {"h1": "s1"}


def test_a_value_read_before_an_invalidation_is_not_kept() -> None:
    state = CacheState()
    cache: Guarded[str, str] = Guarded(state)
    state.invalidate(live=True)
    assert cache.get("k") is None  # a miss: the caller reads the table...
    state.invalidate()  # ...another node's commit is announced meanwhile...
    cache["k"] = "old"  # ...and what was read before it is dropped
    assert cache.get("k") is None
    cache["k"] = "new"
    assert cache.get("k") == "new"
    cache["j"] = "no miss before"
    assert "j" not in cache
    state.invalidate(live=False)
    assert cache.get("k") is None
    cache["k"] = "new"
    assert cache == {}


async def test_a_sign_out_on_one_node_ends_the_sign_in_on_the_other(
    pg_url: str, pg_server: PgServer, tmp_path: Path
) -> None:
    """A dashboard sign-out recorded through one store is refused by the other's
    logins once announced, and one recorded while that listener was cut off is
    read when it listens again."""
    key = b"k" * 32  # the nodes' shared signing key (derived from the admin token)
    a_logins, b_logins = (DashboardLogins(key=lambda: key) for _ in "ab")
    a = PostgresStore(pg_url, path=tmp_path / "a.db", node="a")
    b = PostgresStore(pg_url, path=tmp_path / "b.db", node="b")
    b_logins.publish = b.end_login
    heard = Heard()
    told = [trio.Event()]

    def signed_out(ended: dict[str, float]) -> None:
        a_logins.ended_elsewhere(ended)
        told[0].set()
        told[0] = trio.Event()

    async def refused_by_a(login: str) -> None:
        with trio.fail_after(10):
            while a_logins.expires(login) is not None:
                await told[0].wait()

    try:
        async with trio.open_nursery() as nursery:
            listen = functools.partial(a.listen, signed_out=signed_out)
            await nursery.start(listen, heard.deliver, heard.gap)
            first, second = a_logins.open()[0], a_logins.open()[0]
            assert b_logins.expires(first) is not None  # good on both nodes
            await b_logins.close(first)
            await refused_by_a(first)
            assert a_logins.expires(second) is not None  # only that one

            assert a.listener is not None
            with listener_cut_off(pg_server, pg_url):
                await b_logins.close(second)  # b's pooled connection still works
                await trio.sleep(0.5)  # a tries to listen again, and is refused
                assert a_logins.expires(second) is not None
            await refused_by_a(second)
            assert a.listener.reconnects >= 1
            nursery.cancel_scope.cancel()
    finally:
        a.close()
        b.close()


async def test_a_deletion_missed_while_cut_off_is_told_when_listening_again(
    nodes: tuple[Node, Node], pg_server: PgServer, pg_url: str
) -> None:
    a, b = nodes
    for device in ("s1", "s2"):
        await b.store.run(lambda q, device=device: q.create_session(device))
        await b.store.run(_emit(device, 1))
    await a.heard.until(lambda: len(a.heard.events) == 2)
    with listener_cut_off(pg_server, pg_url):
        await b.store.run(lambda q: q.delete_session("s1"))  # its NOTIFY goes unheard
        await trio.sleep(0.5)  # A tries to listen again, and is refused
        assert len(a.heard.events) == 2
    await a.heard.until(lambda: len(a.heard.events) == 3)
    told = a.heard.events[2]
    assert (told.type, told.device_id, told.payload) == (
        "session.deleted",
        "s1",
        {"deviceId": "s1"},
    )
    # Told once: another reconnect tells nothing more of it, nor of s2 (still there).
    _admin(pg_server, "SELECT pg_terminate_backend(%s)", _listener_pid(pg_server, "a"))
    await b.store.run(_emit("s2", 2))
    await a.heard.until(lambda: len(a.heard.events) == 4)
    await trio.sleep(0.3)
    assert [e.type for e in a.heard.events[3:]] == ["session.status"]
