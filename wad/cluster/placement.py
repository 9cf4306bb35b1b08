"""Placement: which node runs which free session, and gentle rebalancing.

One decision at a time in the whole cluster: a node decides only while it holds the
placement advisory lock (a try-lock: a node that does not get it just waits for its
next pass). A decision writes *targets* (``owners`` rows with no owner, targeted at
a node); the targeted node then claims them itself (``ownership.claim``). So a free
session goes to exactly one node, and a decision sees the loads of the ones before.

A node's load is what it runs (less what it was asked to move away), plus what is
on its way to it (targeted at it, or a move towards it). A node takes at most its
``capacity`` (its ``max_sessions``, ``WAD_MAX_SESSIONS``; 0: no cap): a full node is
given nothing, by placement, rebalancing, a drain or ``wadctl move``. What no node
has room for waits, unowned, until one has (a node joins, a session is deleted, a
cap is raised): after a failover the others take what fits, never more.

Rebalancing (issue 20: when a node joins, a node above average hands over at most
one session per few seconds): a node hands one session to the least loaded node when it is above the
live average AND that node has at least 2 fewer. The brief's "more than 1 above the
average" alone would leave a joining node empty when the average is fractional
(9 sessions on 3 nodes, a 4th joins: average 2.25, nobody is 1 above it); the rule
here moves a session only when the move narrows the spread, so it stops at a
spread of at most 1 and never swings back. It runs after a join only (the node
tracks which nodes it saw, ``ClusterNode``), until settled: an operator's ``move``
is not undone by it otherwise.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psycopg

from .connection import Conn
from .keys import PLACEMENT_KEY
from .registry import LIVE

#: At most this many free sessions per decision (a decision holds the lock briefly).
BATCH = 500

#: Nodes that may be given sessions: live and not draining, with their loads. A row
#: counts where it is going: a move's target, else its owner, else its claimer.
LOADS = f"""SELECT n.node_id, count(o.device_id), n.capacity FROM nodes n
    LEFT JOIN owners o ON coalesce(o.move_to, o.node_id, o.target) = n.node_id
    WHERE {LIVE} AND NOT n.draining GROUP BY n.node_id, n.capacity"""

#: Sessions that no node runs or is about to claim: no row, a row with no owner and
#: no target that can take it, or an owner whose lease expired by the server's clock.
FREE = f"""SELECT s.device_id FROM sessions s LEFT JOIN owners o ON o.device_id = s.device_id
    WHERE o.device_id IS NULL
    OR (o.node_id IS NULL AND (o.target IS NULL OR NOT o.target = ANY(%(eligible)s)))
    OR (o.node_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM nodes n WHERE n.node_id = o.node_id AND {LIVE}))
    ORDER BY s.device_id LIMIT %(limit)s"""

#: Target a free session; the guard re-checks, in the same statement, that its owner
#: (if any) is still past its lease: only then may its row lose its owner.
TARGET = f"""INSERT INTO owners (device_id, node_id, target, since)
    SELECT device, NULL, target, now()
    FROM unnest(%(devices)s::text[], %(targets)s::text[]) AS chosen (device, target)
    ON CONFLICT (device_id) DO UPDATE SET
        node_id = NULL, target = excluded.target, move_to = NULL, since = now()
    WHERE owners.node_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM nodes n WHERE n.node_id = owners.node_id AND {LIVE})"""


@dataclass(frozen=True)
class Decision:
    #: False: another node was deciding; nothing was looked at.
    decided: bool = False
    placed: int = 0
    #: A handover this node asked of itself (rebalancing): (device, target).
    moved: tuple[str, str] | None = None
    #: Draining: its sessions no node has room for (or none at all): hand them back
    #: untargeted.
    nowhere: tuple[str, ...] = ()
    #: The loads the decision ended with (live nodes that are not draining).
    loads: dict[str, int] = field(default_factory=dict)


def full(node: str, load: int, capacity: Mapping[str, int]) -> bool:
    cap = capacity.get(node, 0)
    return cap > 0 and load >= cap


def assign(
    loads: Mapping[str, int], devices: Iterable[str], capacity: Mapping[str, int] | None = None
) -> dict[str, str]:
    """Each device to the least loaded node at its turn (ties: the smaller node id)
    that has room below its ``capacity`` (none given, or 0: no cap); a device no node
    has room for is left out."""
    caps = capacity or {}
    heap = [(load, node) for node, load in loads.items() if not full(node, load, caps)]
    heapq.heapify(heap)
    chosen: dict[str, str] = {}
    for device in devices:
        if not heap:
            break
        load, node = heapq.heappop(heap)
        chosen[device] = node
        if not full(node, load + 1, caps):
            heapq.heappush(heap, (load + 1, node))
    return chosen


def rebalance_target(
    me: str, loads: Mapping[str, int], capacity: Mapping[str, int] | None = None
) -> str | None:
    """The node this node should hand one session to, or None."""
    caps = capacity or {}
    if me not in loads or len(loads) < 2:
        return None
    average = sum(loads.values()) / len(loads)
    roomy = [(load, node) for node, load in loads.items() if node != me]
    roomy = [(load, node) for load, node in roomy if not full(node, load, caps)]
    if not roomy:
        return None
    load, target = min(roomy)
    if loads[me] > average and loads[me] - load >= 2:
        return target
    return None


def eligible_loads(conn: Conn, lease: float) -> tuple[dict[str, int], dict[str, int]]:
    """The live nodes that are not draining: their loads, and their capacities."""
    rows = conn.execute(LOADS, {"lease": lease}).fetchall()
    return {r[0]: int(r[1]) for r in rows}, {r[0]: int(r[2]) for r in rows}


#: The capacities of the live nodes that take sessions, against every session.
ROOM = f"""SELECT bool_or(n.capacity = 0), sum(n.capacity), (SELECT count(*) FROM sessions)
    FROM nodes n WHERE {LIVE} AND NOT n.draining"""


def room(conn: Conn, lease: float) -> int | None:
    """The sessions the cluster can still take (:meth:`ClusterNode.room`)."""
    row = conn.execute(ROOM, {"lease": lease}).fetchone()
    if row is None or row[0] is None or row[0]:
        return None
    return max(int(row[1]) - int(row[2]), 0)


#: Rows of sessions that are gone (deleted) and that nobody runs.
ORPHANS = """DELETE FROM owners o WHERE o.node_id IS NULL
    AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.device_id = o.device_id)"""


def write_targets(conn: Conn, targets: Mapping[str, str], lease: float) -> int:
    """One statement for the whole decision (the lock connection also carries the
    heartbeat: it must not be held long)."""
    if not targets:
        return 0
    params = {"devices": list(targets), "targets": list(targets.values()), "lease": lease}
    return conn.execute(TARGET, params).rowcount


def free_sessions(conn: Conn, eligible: list[str], lease: float) -> list[str]:
    try:
        rows = conn.execute(FREE, {"eligible": eligible, "limit": BATCH, "lease": lease}).fetchall()
    except psycopg.errors.UndefinedTable:
        return []  # the store has not created its tables yet: nothing to place
    conn.execute(ORPHANS)
    return [r[0] for r in rows]


def decide(conn: Conn, me: str, lease: float, rebalance: bool, draining: bool) -> Decision:
    """One placement decision, if no other node is making one."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (PLACEMENT_KEY,)).fetchone()
    if got is None or not got[0]:
        return Decision()
    try:
        loads, capacity = eligible_loads(conn, lease)
        placed = 0
        if loads:
            free = free_sessions(conn, list(loads), lease)
            placed = write_targets(conn, assign(loads, free, capacity), lease)
            if placed:
                loads, capacity = eligible_loads(conn, lease)
        if draining:
            return _drain(conn, me, loads, capacity, placed)
        target = rebalance_target(me, loads, capacity) if rebalance else None
        if target is None:
            return Decision(decided=True, placed=placed, loads=loads)
        row = conn.execute(
            """UPDATE owners SET move_to = %(target)s WHERE device_id = (
                SELECT device_id FROM owners WHERE node_id = %(me)s AND move_to IS NULL
                ORDER BY since DESC, device_id LIMIT 1)
            RETURNING device_id""",
            {"target": target, "me": me},
        ).fetchone()
        moved = None if row is None else (row[0], target)
        return Decision(decided=True, placed=placed, moved=moved, loads=loads)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (PLACEMENT_KEY,))


def _drain(
    conn: Conn, me: str, loads: Mapping[str, int], capacity: Mapping[str, int], placed: int
) -> Decision:
    """Ask this (draining) node to move each of its sessions to the least loaded
    with room; those none has room for go back unowned."""
    mine = [
        r[0]
        for r in conn.execute(
            "SELECT device_id FROM owners WHERE node_id = %s AND move_to IS NULL"
            " ORDER BY device_id",
            (me,),
        ).fetchall()
    ]
    moves = assign(loads, mine, capacity)
    nowhere = tuple(d for d in mine if d not in moves)
    conn.execute(
        """UPDATE owners o SET move_to = chosen.target
        FROM unnest(%s::text[], %s::text[]) AS chosen (device, target)
        WHERE o.device_id = chosen.device AND o.node_id = %s""",
        (list(moves), list(moves.values()), me),
    )
    return Decision(decided=True, placed=placed, nowhere=nowhere, loads=dict(loads))
