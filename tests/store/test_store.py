"""The store on a real SQLite file: migrations, the key cache, the clock's form."""

from __future__ import annotations

import re
from pathlib import Path

from wad.store import Store, now_iso
from wad.store.clock import iso_at
from wad.store.migrations import MIGRATIONS


def test_migrations_run_once_and_data_survives_a_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    assert store.db.pragma("user_version") == len(MIGRATIONS)
    assert store.create_session("s1")
    store.close()
    store = Store(tmp_path / "wad.db")  # nothing to migrate: the row is still there
    assert store.db.pragma("user_version") == len(MIGRATIONS)
    assert [row.device_id for row in store.list_sessions()] == ["s1"]
    assert not store.create_session("s1")


def test_a_key_is_forgotten_when_revoked_or_its_session_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    for device in ("s1", "s2"):
        store.create_session(device)
        store.set_api_key(device, f"hash-{device}", "wad_")
        assert store.session_for_key(f"hash-{device}") == device  # now cached
    assert store.revoke_api_key("s1")
    assert store.session_for_key("hash-s1") is None
    assert store.delete_session("s2")  # the key goes with it (ON DELETE CASCADE)
    assert store.session_for_key("hash-s2") is None
    assert store.get_session("s1") is not None and store.get_session("s1").key_prefix is None


def test_a_key_set_inside_a_rolled_back_transaction_is_not_remembered(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    store.create_session("s1")

    class Abort(Exception):
        pass

    try:
        with store.transaction():
            store.set_api_key("s1", "hash-1", "wad_")
            assert store.session_for_key("hash-1") == "s1"
            raise Abort
    except Abort:
        pass
    assert store.session_for_key("hash-1") is None


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now_iso())
    assert iso_at(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert iso_at(1_700_000_000.25, "seconds") == "2023-11-14T22:13:20Z"
