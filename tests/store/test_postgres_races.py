"""Two transactions of the PostgreSQL store at once, one held open in its worker thread
while the other runs and commits: the races that SQLite's single connection cannot
have (there, one transaction runs at a time, in commit order)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import trio

from wad.store.database import Queries
from wad.store.postgres import PostgresStore

pytestmark = pytest.mark.slow


class Held:
    """A transaction of the store kept open, after its ``fn`` ran, until released."""

    def __init__(self, store: PostgresStore, fn: Callable[[Queries], Any]) -> None:
        self.store = store
        self.fn = fn
        self.inside = threading.Event()
        self.release = threading.Event()
        self.done = trio.Event()
        self.result: Any = None

    def _body(self, q: Queries) -> Any:
        result = self.fn(q)
        self.inside.set()
        self.release.wait(30)
        return result

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        self.result = await self.store.run(self._body)
        self.done.set()

    async def opened(self, nursery: trio.Nursery) -> None:
        """Start it; return once ``fn`` ran (its transaction not committed yet)."""
        await nursery.start(self.run)
        await trio.to_thread.run_sync(self.inside.wait, 30)

    async def commit(self) -> Any:
        self.release.set()
        await self.done.wait()
        return self.result


async def _a_backend_waits_on_a_lock(url: str) -> None:
    """Until some backend of the server waits for a lock (another transaction's row):
    another process's state, polled."""
    with psycopg.connect(url, autocommit=True) as conn:
        with trio.fail_after(30):
            while not conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchone()[0]:
                await trio.sleep(0.01)


async def test_the_same_idempotency_key_claimed_at_once_is_new_for_one_only(
    pg: PostgresStore, pg_url: str, nursery: trio.Nursery
) -> None:
    """The second claim comes while the first is not committed: it waits for it, then
    finds the claim open (its send under way), and is not an error."""
    await pg.run(lambda q: q.create_session("s1"))
    first = Held(pg, lambda q: q.idempotency_claim("s1", "k", "h"))
    await first.opened(nursery)
    second = Held(pg, lambda q: q.idempotency_claim("s1", "k", "h"))
    nursery.start_soon(second.run)
    await _a_backend_waits_on_a_lock(pg_url)  # its INSERT, on the first's row
    assert await first.commit() == ("new", None)
    assert await second.commit() == ("open", None)


async def test_an_event_committed_late_with_a_smaller_number_is_not_passed_over(
    pg: PostgresStore, nursery: trio.Nursery
) -> None:
    """The first transaction stores its event first and commits last: a reader that
    saw the second's event and resumes after it still gets the first's."""
    await pg.run(lambda q: [q.create_session(d) for d in ("s1", "s2")])
    start = await pg.run(lambda q: q.append_event("s1", "t", {"n": 0}))
    late = Held(pg, lambda q: q.append_event("s1", "t", {"n": 1}))
    await late.opened(nursery)
    early = await pg.run(lambda q: q.append_event("s2", "t", {"n": 2}))
    seen = await pg.read(lambda q: q.events_after(start.id, None, 10))
    assert [e.id for e in seen or ()] == [early.id]
    assert await pg.read(lambda q: q.latest_event_id()) == early.id
    committed = await late.commit()
    resumed = await pg.read(lambda q: q.events_after(early.id, None, 10))
    assert [e.id for e in resumed or ()] == [committed.id]
    assert await pg.read(lambda q: q.latest_event_id()) == committed.id
    everything = await pg.read(lambda q: q.events_after(start.id, None, 10))
    assert [e.id for e in everything or ()] == [early.id, committed.id]
