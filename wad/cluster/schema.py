"""The cluster's tables, created by the nodes themselves: a numbered list of
migrations, the version kept in ``cluster_schema``.

- ``nodes``: one row per node. ``seen_at`` is the server's ``now()`` of its last
  heartbeat; ``incarnation`` tells a node's reconnect from another process that was
  given the same node id; ``sessions`` is what it reported it runs; ``capacity``
  the most sessions it takes (0: no cap).
- ``owners``: one row per placed session. ``node_id`` is the owner (it holds the
  session's advisory lock) or NULL: not running anywhere, to be claimed by
  ``target`` (NULL: not yet decided). ``move_to`` is a planned handover asked of the
  owner.

No foreign keys: ``sessions`` belongs to the store and may be created after these,
and a node's row must outlive its sessions for ``wadctl cluster``.
"""

from __future__ import annotations

from .connection import Conn
from .keys import SCHEMA_KEY

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE nodes (
            node_id TEXT PRIMARY KEY,
            url TEXT NOT NULL DEFAULT '',
            incarnation TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            draining BOOLEAN NOT NULL DEFAULT false,
            sessions INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE owners (
            device_id TEXT PRIMARY KEY,
            node_id TEXT,
            since TIMESTAMPTZ NOT NULL DEFAULT now(),
            target TEXT,
            move_to TEXT
        )""",
        "CREATE INDEX owners_node ON owners (node_id)",
        "CREATE INDEX owners_target ON owners (target) WHERE node_id IS NULL",
    ],
    # 2: each node's most sessions (its WAD_MAX_SESSIONS; 0: no cap), for placement.
    ["ALTER TABLE nodes ADD COLUMN capacity INTEGER NOT NULL DEFAULT 0"],
]


def ensure_schema(conn: Conn) -> int:
    """Bring the cluster's tables to the newest version; the version. Several nodes
    starting at once take turns on a transaction lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS cluster_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM cluster_schema").fetchone()
        version = int(row[0]) if row else 0
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO cluster_schema (version) VALUES (%s)", (number,))
        return len(MIGRATIONS)
