"""Which node runs each session, read through the daemon's store (any of its pooled
connections, not the lock connection: that one carries the heartbeat). For the
cluster-wide session list, where each session names its node.

Functions of the store's queries (``await store.read(lambda q: owners(q))``).
"""

from __future__ import annotations

from wad.store.base import QueryBase


def owners(q: QueryBase) -> dict[str, str]:
    """Device id -> the node that runs it (sessions being handed over: absent)."""
    rows = q.db.execute("SELECT device_id, node_id FROM owners WHERE node_id IS NOT NULL")
    return {str(r[0]): str(r[1]) for r in rows}


def owner_of(q: QueryBase, device_id: str) -> str | None:
    row = q.db.execute(
        "SELECT node_id FROM owners WHERE device_id = ? AND node_id IS NOT NULL", (device_id,)
    ).fetchone()
    return None if row is None else str(row[0])
