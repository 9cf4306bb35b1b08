"""What the PostgreSQL store adds to the contract: a bounded pool used from many trio
tasks at once, a full disk mapped as SQLite's, connections that name their node and
are replaced when the server ends them, no cache without a listener, migrations
that several nodes may start at once."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import pytest
import trio
from pgserver import PgServer

from wad.errors import StorageFull
from wad.store import StoredEvent
from wad.store.database import Queries
from wad.store.postgres import NoMigrations, PostgresStore
from wad.store.postgres.connect import over_tcp, settings
from wad.store.postgres.migrations import MIGRATIONS
from wad.store.postgres.store import POOL_SIZE


def _accepted(q: Queries, device: str) -> list[StoredEvent]:
    return q.recent_events(device, ("message.accepted",), 999)


async def test_many_tasks_run_at_once_each_in_its_own_transaction(pg: PostgresStore) -> None:
    await pg.run(lambda q: [q.create_session(d) for d in ("s1", "s2")])
    tasks, each = 40, 10

    async def sender(n: int) -> None:
        for i in range(each):

            def send(q: Queries, n: int = n, i: int = i) -> None:
                device = "s1" if n % 2 else "s2"
                q.insert_outgoing(f"m{n}-{i}", device, "a@s", "text", "x")
                q.append_event(device, "message.accepted", {"id": f"m{n}-{i}"})

            await pg.run(send)

    async with trio.open_nursery() as nursery:
        for n in range(tasks):
            nursery.start_soon(sender, n)
    for device in ("s1", "s2"):
        events = await pg.read(functools.partial(_accepted, device=device))
        assert sorted(e.seq for e in events) == list(range(1, tasks * each // 2 + 1))
    counts = await pg.read(lambda q: q.db.execute("SELECT count(*) FROM messages").fetchone())
    assert counts[0] == tasks * each
    assert pg.pool.opened <= POOL_SIZE


async def test_the_pool_holds_as_many_transactions_at_once_as_it_has_connections(
    pg_url: str, tmp_path: Path
) -> None:
    store = PostgresStore(pg_url, path=tmp_path / "wad.db", node="test", pool_size=4)
    await store.run(lambda q: q.create_session("s1"))
    together = threading.Barrier(4, timeout=20)  # broken unless 4 are in flight at once

    def hold(q: Queries, n: int) -> None:
        q.insert_outgoing(f"m{n}", "s1", "a@s", "text", "x")
        together.wait()

    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(store.run, lambda q, n=n: hold(q, n))
    assert store.pool.opened == 4
    assert len(await store.read(lambda q: q.pending_outgoing("s1"))) == 4
    store.close()


async def test_a_cancelled_run_still_ends_its_transaction(pg: PostgresStore) -> None:
    await pg.run(lambda q: q.create_session("s1"))
    inside, go_on = threading.Event(), threading.Event()

    def slow(q: Queries) -> None:
        q.insert_outgoing("m1", "s1", "a@s", "text", "x")
        inside.set()
        go_on.wait(20)

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pg.run, slow)
            await trio.to_thread.run_sync(inside.wait, 20)
            scope.cancel()  # the thread is not abandoned: the run waits for its commit
            go_on.set()
    assert await pg.read(lambda q: q.message_status("m1")) == "pending"


_NO_ROOM = """
CREATE FUNCTION no_room() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
    USING ERRCODE = 'disk_full'; END $$;
"""


async def test_a_full_disk_is_storage_full_until_a_write_commits(pg: PostgresStore) -> None:
    """PostgreSQL's own disk_full error (SQLSTATE 53100), raised by a trigger: from a
    statement, and from a commit (a deferred constraint trigger fires at COMMIT)."""
    await pg.run(lambda q: q.create_session("s1"))
    await pg.run(lambda q: q.db.execute(_NO_ROOM))
    await pg.run(
        lambda q: q.db.execute(
            "CREATE TRIGGER full_now BEFORE INSERT ON messages"
            " FOR EACH ROW EXECUTE FUNCTION no_room()"
        )
    )
    with pytest.raises(StorageFull):
        await pg.run(lambda q: q.insert_outgoing("m1", "s1", "a@s", "text", "x"))
    assert pg.full
    await pg.read(lambda q: q.get_session("s1"))  # a read proves nothing
    assert pg.full
    await pg.read(lambda q: q.update_session("s1", last_error="x"))  # a write did commit
    assert not pg.full

    await pg.run(
        lambda q: q.db.execute(
            "DROP TRIGGER full_now ON messages;"
            " CREATE CONSTRAINT TRIGGER full_at_commit AFTER INSERT ON events"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION no_room()"
        )
    )

    def send(q: Queries) -> None:
        q.insert_outgoing("m2", "s1", "a@s", "text", "x")
        q.append_event("s1", "message.accepted", {})

    with pytest.raises(StorageFull):
        await pg.run(send)  # every statement ran; the commit found no room
    assert pg.full
    assert await pg.read(lambda q: q.message_status("m2")) is None  # rolled back
    assert await pg.read(lambda q: q.recent_events("s1", ("message.accepted",), 5)) == []
    await pg.run(lambda q: q.insert_outgoing("m3", "s1", "a@s", "text", "x"))
    assert not pg.full


async def test_connections_name_their_node_and_are_replaced_when_ended(
    pg: PostgresStore, pg_server: PgServer
) -> None:
    name = await pg.read(
        lambda q: q.db.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        ).fetchone()
    )
    assert name[0] == "wad test"
    await pg.run(lambda q: q.create_session("s1"))
    ended = pg_server.psql(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE application_name = 'wad test') t"
    )
    assert int(ended) >= 1
    # The ended connection is found so before use and another opened: no call fails.
    assert await pg.read(lambda q: q.get_session("s1")) is not None
    assert await pg.run(lambda q: q.create_session("s2"))


def test_tcp_connections_get_keepalives_and_a_user_timeout() -> None:
    socket_url = "postgresql://wad@/wad?host=%2Frun%2Fpostgresql"
    assert not over_tcp(socket_url) and not over_tcp("postgresql:///wad")
    assert over_tcp("postgresql://wad@db.example:5432/wad")
    assert over_tcp("postgresql://wad@/wad?host=%2Ftmp,db.example")
    assert settings(socket_url, "n1") == {"application_name": "wad n1"}
    tcp = settings("postgresql://db.example/wad", "n1")
    assert tcp["keepalives"] == 1 and tcp["tcp_user_timeout"] == 10_000
    assert tcp["keepalives_idle"] + tcp["keepalives_interval"] * tcp["keepalives_count"] == 11


async def test_nothing_is_cached_across_calls(pg: PostgresStore) -> None:
    """Another node's write would make a cache stale: without a listener to hear of it
    (tests/store/test_pg_notify.py), every lookup reads the table."""
    await pg.run(lambda q: q.create_session("s1"))
    await pg.run(lambda q: q.set_api_key("s1", "h1", "wad_"))
    await pg.run(lambda q: q.set_session_settings("s1", {"a": 1}))
    assert await pg.read(lambda q: q.session_for_key("h1")) == "s1"
    assert await pg.read(lambda q: q.session_settings("s1")) == {"a": 1}
    assert pg.caches.key_owner == {} and pg.caches.settings == {}
    # Written behind the store's back (as another node would): seen at once.
    await pg.run(lambda q: q.db.execute("UPDATE api_keys SET key_hash = 'h2'"))
    assert await pg.read(lambda q: q.session_for_key("h1")) is None


def test_a_plugin_without_postgresql_migrations_is_refused(pg: PostgresStore) -> None:
    with pytest.raises(NoMigrations, match="'plug' has tables but no PostgreSQL migrations"):
        pg.migrate_plugin("plug", ["CREATE TABLE plug (id INTEGER) STRICT"])


async def test_nodes_starting_at_once_migrate_the_schema_once(pg_url: str, tmp_path: Path) -> None:
    stores: list[PostgresStore] = []

    async def start() -> None:
        stores.append(
            await trio.to_thread.run_sync(
                lambda: PostgresStore(pg_url, path=tmp_path / "wad.db", node="n")
            )
        )

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(start)
    assert [s.schema_version for s in stores] == [len(MIGRATIONS)] * 4
    version = await stores[0].read(
        lambda q: q.db.execute("SELECT version FROM wad_schema").fetchall()
    )
    assert [tuple(r) for r in version] == [(len(MIGRATIONS),)]
    for store in stores:
        store.close()
