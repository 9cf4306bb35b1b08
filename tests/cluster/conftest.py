"""Cluster fixtures: a fresh database with the store's ``sessions`` table."""

from __future__ import annotations

import pytest
from clusterkit import execute


@pytest.fixture
def db(pg_url: str) -> str:
    """A fresh database with the store's ``sessions`` table (the part the cluster
    reads), as the PostgreSQL store will create it."""
    execute(pg_url, "CREATE TABLE IF NOT EXISTS sessions (device_id TEXT PRIMARY KEY)")
    return pg_url
