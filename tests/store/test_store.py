"""The store on a real SQLite file: migrations, the key cache, the clock's form."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from wad.store import Queries, Store, now_iso
from wad.store.clock import iso_at
from wad.store.migrations import MIGRATIONS


async def test_migrations_run_once_and_data_survives_a_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    assert store.connection.db.pragma("user_version") == len(MIGRATIONS)
    assert await store.run(lambda q: q.create_session("s1"))
    store.close()
    store = Store(tmp_path / "wad.db")  # nothing to migrate: the row is still there
    assert store.connection.db.pragma("user_version") == len(MIGRATIONS)
    assert [row.device_id for row in await store.read(lambda q: q.list_sessions())] == ["s1"]
    assert not await store.run(lambda q: q.create_session("s1"))


async def test_a_key_is_forgotten_when_revoked_or_its_session_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    for device in ("s1", "s2"):
        await store.run(lambda q, d=device: q.create_session(d))
        await store.run(lambda q, d=device: q.set_api_key(d, f"hash-{d}", "wad_"))
        # now cached
        assert await store.read(lambda q, d=device: q.session_for_key(f"hash-{d}")) == device
    assert await store.run(lambda q: q.revoke_api_key("s1"))
    assert await store.read(lambda q: q.session_for_key("hash-s1")) is None
    # the key goes with it (ON DELETE CASCADE)
    assert await store.run(lambda q: q.delete_session("s2"))
    assert await store.read(lambda q: q.session_for_key("hash-s2")) is None
    row = await store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.key_prefix is None


async def test_a_key_set_inside_a_rolled_back_transaction_is_not_remembered(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "wad.db")
    await store.run(lambda q: q.create_session("s1"))

    class Abort(Exception):
        pass

    def set_and_abort(q: Queries) -> None:
        q.set_api_key("s1", "hash-1", "wad_")
        assert q.session_for_key("hash-1") == "s1"
        raise Abort

    with contextlib.suppress(Abort):
        await store.run(set_and_abort)
    assert await store.read(lambda q: q.session_for_key("hash-1")) is None


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now_iso())
    assert iso_at(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert iso_at(1_700_000_000.25, "seconds") == "2023-11-14T22:13:20Z"
