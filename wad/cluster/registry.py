"""The node registry (``nodes``): register, heartbeat, drain, and the list of nodes.

Sync functions of a psycopg connection, run through the node's lock connection
(``LockConnection.run``). A node is live while its ``seen_at`` is within the lease
by the server's clock: every node judges every other on that one clock.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg

from .connection import Conn


class NodeIdInUse(Exception):
    """Another live process registered this node id (two hosts with one name)."""


@dataclass(frozen=True)
class NodeRow:
    node_id: str
    url: str
    draining: bool
    sessions: int
    #: The most sessions it takes (its ``max_sessions``; 0: no cap).
    capacity: int
    #: Seconds since its last heartbeat, by the server's clock.
    heartbeat_age: float
    live: bool


LIVE = "seen_at > now() - make_interval(secs => %(lease)s)"


def terminate_backend(conn: Conn, backend: tuple[int, object]) -> None:
    """End this node's previous lock connection if the server still runs it (a
    connection given up while stuck): its advisory locks go with it. Waits up to 1 s
    for the backend to exit. Only a backend of the same role may be ended; a refusal
    leaves it to the server's keepalives."""
    pid, started = backend
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "SELECT pg_terminate_backend(pid, 1000) FROM pg_stat_activity"
            " WHERE pid = %s AND backend_start = %s",
            (pid, started),
        )


def register(
    conn: Conn,
    node_id: str,
    url: str,
    incarnation: str,
    lease: float,
    draining: bool,
    capacity: int = 0,
) -> None:
    """Enter the node (or re-enter it after a lost connection) and forget what it
    owned. Its sessions are not running: it has just started, or it fenced before
    reconnecting. So its ``owners`` rows may go; their sessions are free again."""
    with conn.transaction():
        row = conn.execute(
            f"SELECT incarnation, {LIVE} FROM nodes WHERE node_id = %(node)s FOR UPDATE",
            {"node": node_id, "lease": lease},
        ).fetchone()
        if row is not None and row[0] != incarnation and row[1]:
            raise NodeIdInUse(f"node id {node_id!r} is in use by another live node")
        conn.execute("DELETE FROM owners WHERE node_id = %s", (node_id,))
        conn.execute(
            """INSERT INTO nodes
                (node_id, url, incarnation, started_at, seen_at, draining, capacity)
            VALUES (%(node)s, %(url)s, %(inc)s, now(), now(), %(draining)s, %(capacity)s)
            ON CONFLICT (node_id) DO UPDATE SET
                url = excluded.url,
                capacity = excluded.capacity,
                started_at = CASE WHEN nodes.incarnation = excluded.incarnation
                    THEN nodes.started_at ELSE excluded.started_at END,
                incarnation = excluded.incarnation,
                seen_at = excluded.seen_at,
                draining = excluded.draining,
                sessions = 0""",
            {
                "node": node_id,
                "url": url,
                "inc": incarnation,
                "draining": draining,
                "capacity": capacity,
            },
        )


def heartbeat(conn: Conn, node_id: str, incarnation: str, sessions: int) -> bool:
    """Mark the node seen now; False if its row is no longer this incarnation's."""
    done = conn.execute(
        "UPDATE nodes SET seen_at = now(), sessions = %s WHERE node_id = %s AND incarnation = %s",
        (sessions, node_id, incarnation),
    )
    return done.rowcount == 1


def set_draining(conn: Conn, node_id: str, incarnation: str, draining: bool) -> None:
    conn.execute(
        "UPDATE nodes SET draining = %s WHERE node_id = %s AND incarnation = %s",
        (draining, node_id, incarnation),
    )


def leave(conn: Conn, node_id: str, incarnation: str) -> None:
    """A planned exit, once the node's sessions have stopped: its sessions are free
    at once (no lease to wait for) and nothing is placed on it any more."""
    with conn.transaction():
        conn.execute("DELETE FROM owners WHERE node_id = %s", (node_id,))
        set_draining(conn, node_id, incarnation, True)


def list_nodes(conn: Conn, lease: float) -> list[NodeRow]:
    rows = conn.execute(
        f"""SELECT node_id, url, draining, sessions, capacity,
            extract(epoch FROM now() - seen_at)::float8, {LIVE}
        FROM nodes ORDER BY node_id""",
        {"lease": lease},
    ).fetchall()
    return [NodeRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
