"""Retention: rows older than ``retention_days`` go, a batch at a time, with the media
files of the messages; the rest stays. Ages are set in the real wad.db; the clock is
passed in (``prune_once``) or trio's virtual one drives the background task."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
import trio.testing

from wad.config import ConfigError, load
from wad.runtime import retention
from wad.sessions.faults import Faults
from wad.store import Queries, Store

OLD = "2020-01-01T00:00:00.000Z"


async def age(store: Store, table: str, rows: int) -> None:
    """Make the first ``rows`` of ``table`` (by rowid, as they were written) old."""
    # The table names are this test's own.
    oldest = f"SELECT rowid FROM {table} ORDER BY rowid LIMIT ?"  # noqa: S608
    update = f"UPDATE {table} SET created_at = ? WHERE rowid IN ({oldest})"  # noqa: S608
    await store.run(lambda q: q.db.execute(update, (OLD, rows)))


async def count(store: Store, table: str) -> int:
    query = f"SELECT count(*) FROM {table}"  # noqa: S608
    return int(await store.read(lambda q: q.db.execute(query).fetchone()[0]))


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "wad.db")
    await store.run(lambda q: q.create_session("d"))
    media = tmp_path / "media"
    media.mkdir()

    def fill(q: Queries) -> None:
        for i in range(1200):
            path = media / f"in-{i}"
            path.write_bytes(b"x")
            q.insert_incoming("d", f"W{i}", "p@s.whatsapp.net", "image", None, {}, str(path))
            q.append_event("d", "message", {"n": i})
            q.idempotency_claim("d", f"key-{i}", "hash")

    await store.run(fill)
    return store


async def test_old_rows_and_their_files_go_in_batches_the_rest_stays(
    store: Store, tmp_path: Path
) -> None:
    await age(store, "messages", 1100)
    await age(store, "idempotency", 1100)
    assert await count(store, "events") == 1000  # a session's newest 1000 are kept anyway
    await age(store, "events", 900)
    pruned = await retention.prune_once(store, time.time(), days=30, batch=500)
    assert pruned.rows["messages"] == 1100 and pruned.rows["idempotency"] == 1100
    assert pruned.rows["events"] == 900
    assert await count(store, "messages") == 100 and await count(store, "idempotency") == 100
    assert await count(store, "events") == 100
    assert pruned.files == 1100
    left = sorted(p.name for p in (tmp_path / "media").iterdir())
    assert left == sorted(f"in-{i}" for i in range(1100, 1200))
    assert pruned.batches == 9  # three a table: never more than 500 rows at once
    again = await retention.prune_once(store, time.time(), days=30, batch=500)
    assert sum(again.rows.values()) == 0 and again.batches == 3


async def test_the_cutoff_is_the_age_asked(store: Store) -> None:
    now = time.time()
    assert sum((await retention.prune_once(store, now, days=30)).rows.values()) == 0
    # Ninety days on, everything is older than thirty.
    later = await retention.prune_once(store, now + 90 * 86400, days=30)
    assert later.rows["messages"] == 1200 and await count(store, "messages") == 0
    assert later.rows["idempotency"] == 1200 and await count(store, "events") == 0


async def test_the_background_task_prunes_each_period_and_zero_keeps_all(
    store: Store, autojump_clock: trio.abc.Clock
) -> None:
    now = [time.time()]
    faults = Faults()
    passes: trio.MemorySendChannel[retention.Pruned]
    passes, done = trio.open_memory_channel[retention.Pruned](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(retention.prune_forever, store, 0, faults)  # 0: keep for ever
        await nursery.start(
            lambda task_status: retention.prune_forever(
                store,
                30,
                faults,
                clock=lambda: now[0],
                interval=3600,
                after_pass=passes.send_nowait,
                task_status=task_status,
            )
        )
        first = await done.receive()
        assert trio.current_time() >= retention.FIRST_PASS_AFTER
        assert sum(first.rows.values()) == 0 and await count(store, "messages") == 1200
        now[0] += 31 * 86400  # a month later
        second = await done.receive()
        assert trio.current_time() >= retention.FIRST_PASS_AFTER + 3600  # the next period
        assert second.rows["messages"] == 1200 and await count(store, "messages") == 0
        nursery.cancel_scope.cancel()
    assert faults.counts["retention"] == 0


def test_retention_days_is_a_setting() -> None:
    assert load({}, env={"WAD_RETENTION_DAYS": "7"}).retention_days == 7
    assert load({}, env={}).retention_days == 30
    with pytest.raises(ConfigError, match="retention_days"):
        load({}, env={"WAD_RETENTION_DAYS": "-1"})
