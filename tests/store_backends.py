"""The store contract's backends: the same tests on both, the embedded SQLite
(a real file in the test's folder) and PostgreSQL (a fresh database on the session's
throwaway server, tests/pgserver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wad.store import Store
from wad.store.postgres import PostgresStore

AnyStore = Store | PostgresStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyStore]:
    opened: AnyStore
    if request.param == "sqlite":
        opened = Store(tmp_path / "wad.db")
    else:
        opened = PostgresStore(
            request.getfixturevalue("pg_url"), path=tmp_path / "wad.db", node="test"
        )
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[PostgresStore]:
    """The PostgreSQL store alone, on a fresh database."""
    store = PostgresStore(pg_url, path=tmp_path / "wad.db", node="test")
    try:
        yield store
    finally:
        store.close()
