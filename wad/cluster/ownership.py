"""Ownership (``owners`` plus one advisory lock per session): claim, release, move.

The rule that keeps a session on one node at a time: a node runs a session only
while it holds the session's advisory lock on its lock connection AND the session's
``owners`` row names it. A claimer needs both: the lock (so the old owner's
connection is gone or it unlocked) and a row that is NULL-owned and targeted at it.
A row loses its owner (``node_id`` becomes NULL) only

- by its owner, after it stopped the session (a planned handover, ``release``);
- by its owner on (re)registration or planned exit, when it runs nothing;
- by a placement decision made when the owner's lease had expired by the
  server's clock (``placement.write_targets``), which is after the owner fenced.

So when a claim succeeds, the previous owner has stopped.

Sync functions of the lock connection (``LockConnection.run``).
"""

from __future__ import annotations

from .connection import Conn
from .keys import session_key
from .registry import LIVE


def claim(conn: Conn, device_id: str, node_id: str) -> bool:
    """Take a session targeted at this node: its advisory lock, then its row."""
    key = session_key(device_id)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if row is None or not row[0]:
        return False  # the old owner's connection still holds it
    taken = conn.execute(
        """UPDATE owners SET node_id = %(node)s, target = NULL, move_to = NULL, since = now()
        WHERE device_id = %(device)s AND node_id IS NULL AND target = %(node)s
        RETURNING device_id""",
        {"node": node_id, "device": device_id},
    ).fetchone()
    if taken is None:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return False
    return True


def release(conn: Conn, device_id: str, node_id: str, target: str | None) -> None:
    """Give a stopped session up, for ``target`` to claim (None: for placement to
    decide). The row changes first, while the lock still guards it."""
    conn.execute(
        """UPDATE owners SET node_id = NULL, target = %s, move_to = NULL, since = now()
        WHERE device_id = %s AND node_id = %s""",
        (target, device_id, node_id),
    )
    conn.execute("SELECT pg_advisory_unlock(%s)", (session_key(device_id),))


def forget(conn: Conn, device_id: str, node_id: str) -> None:
    """Drop a deleted session's row (this node's, stopped) and its lock."""
    done = conn.execute(
        "DELETE FROM owners WHERE device_id = %s AND node_id = %s", (device_id, node_id)
    )
    if done.rowcount:
        conn.execute("SELECT pg_advisory_unlock(%s)", (session_key(device_id),))


def deleted(conn: Conn, node_id: str) -> list[str]:
    """This node's sessions whose ``sessions`` row is gone (deleted through another
    node): it stops them and drops their rows."""
    rows = conn.execute(
        """SELECT o.device_id FROM owners o WHERE o.node_id = %s
        AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.device_id = o.device_id)
        ORDER BY o.device_id""",
        (node_id,),
    ).fetchall()
    return [r[0] for r in rows]


def targeted(conn: Conn, node_id: str) -> list[str]:
    """The sessions waiting for this node to claim them."""
    rows = conn.execute(
        "SELECT device_id FROM owners WHERE node_id IS NULL AND target = %s ORDER BY device_id",
        (node_id,),
    ).fetchall()
    return [r[0] for r in rows]


def move_requests(conn: Conn, node_id: str) -> list[tuple[str, str]]:
    """The planned handovers asked of this node: (device id, target)."""
    rows = conn.execute(
        "SELECT device_id, move_to FROM owners WHERE node_id = %s AND move_to IS NOT NULL"
        " ORDER BY device_id",
        (node_id,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def request_move(conn: Conn, device_id: str, target: str, lease: float) -> bool:
    """Ask the owner of a running session to hand it to ``target`` (a live node that
    is not draining and has room below its capacity); False if there is no such
    owner or target."""
    done = conn.execute(
        f"""UPDATE owners SET move_to = %(target)s
        WHERE device_id = %(device)s AND node_id IS NOT NULL AND node_id <> %(target)s
        AND EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = %(target)s AND NOT n.draining
            AND {LIVE} AND (n.capacity = 0 OR n.capacity > (SELECT count(*) FROM owners o
                WHERE coalesce(o.move_to, o.node_id, o.target) = n.node_id)))""",
        {"device": device_id, "target": target, "lease": lease},
    )
    return done.rowcount == 1


def owner_of(conn: Conn, device_id: str) -> str | None:
    row = conn.execute("SELECT node_id FROM owners WHERE device_id = %s", (device_id,)).fetchone()
    return None if row is None else row[0]


def owned_by(conn: Conn, node_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT device_id FROM owners WHERE node_id = %s ORDER BY device_id", (node_id,)
    ).fetchall()
    return [r[0] for r in rows]
