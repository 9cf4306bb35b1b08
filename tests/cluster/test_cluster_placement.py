"""Placement on a real PostgreSQL server: free sessions spread over the live nodes,
one owner each (its advisory lock and its row), and a node id used once."""

from __future__ import annotations

import time

import pytest
import trio
from clusterkit import add_sessions, open_cluster, query, wait_until

from wad.cluster import ClusterNode, NodeIdInUse
from wad.cluster.keys import session_key


async def advisory_locks(url: str) -> dict[str, set[int]]:
    """The session-level advisory locks each node's lock connection holds."""
    rows = await query(
        url,
        """SELECT a.application_name, l.classid, l.objid FROM pg_locks l
        JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted""",
    )
    held: dict[str, set[int]] = {}
    for name, high, low in rows:
        key = (int(high) << 32) | int(low)
        held.setdefault(name.removeprefix("wad-cluster "), set()).add(
            key - 2**64 if key >= 2**63 else key
        )
    return held


async def test_nine_sessions_spread_three_by_three(db: str) -> None:
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        devices = [f"dev{i}" for i in range(9)]
        await add_sessions(db, devices)
        took = await wait_until(lambda: cluster.running() == 9, 10, "9 sessions running")
        assert cluster.counts() == {"a": 3, "b": 3, "c": 3}
        assert cluster.timeline.overlaps() == []
        # What each node runs is what the database says it owns, under its own locks.
        owners = await query(db, "SELECT device_id, node_id FROM owners")
        locks = await advisory_locks(db)
        for name, member in cluster.members.items():
            mine = {d for d, n in owners if n == name}
            assert mine == member.recorder.running == member.node.owned
            assert locks[name] == {session_key(d) for d in mine}

        async def reported() -> bool:
            rows = await query(db, "SELECT node_id, sessions FROM nodes ORDER BY node_id")
            return rows == [("a", 3), ("b", 3), ("c", 3)]

        await wait_until(reported, 5, "heartbeats report 3 sessions each")
        nodes = await cluster["a"].node.nodes()
        assert [(n.node_id, n.url, n.live, n.draining) for n in nodes] == [
            ("a", "http://a", True, False),
            ("b", "http://b", True, False),
            ("c", "http://c", True, False),
        ]
        assert all(0 <= n.heartbeat_age < 2 for n in nodes)
        print(f"placed 9 sessions on 3 nodes in {took:.2f} s")


async def test_a_second_process_with_the_same_node_id_is_refused(db: str) -> None:
    async with open_cluster(db, ["a"]) as cluster:
        await add_sessions(db, ["dev1"])
        await wait_until(lambda: cluster.running() == 1, 10, "dev1 running")
        twin = ClusterNode(db, "a", cluster["a"].recorder)
        with pytest.raises(NodeIdInUse):
            await twin.run()
        # The running node kept its session and its row.
        await trio.sleep(0)
        assert cluster["a"].node.owned == {"dev1"}
        assert await query(db, "SELECT device_id, node_id FROM owners") == [("dev1", "a")]


async def test_a_planned_exit_frees_its_sessions_without_waiting_for_the_lease(db: str) -> None:
    async with open_cluster(db, ["a", "b"]) as cluster:
        await add_sessions(db, [f"dev{i}" for i in range(4)])
        await wait_until(lambda: cluster.counts() == {"a": 2, "b": 2}, 10, "2 and 2")
        leaving = set(cluster["a"].recorder.running)
        stopped_at = time.monotonic()
        await cluster["a"].stop()
        took = await wait_until(
            lambda: cluster["b"].recorder.running >= leaving, 10, "b runs a's sessions"
        )
        exit_entry = cluster.timeline.first("a", "stop_all", after=stopped_at)
        for start in cluster.timeline.starts(leaving, after=stopped_at):
            assert exit_entry.at < start.at
        assert cluster.timeline.overlaps() == []
        # Well inside the lease: a's rows were freed, not left to expire.
        assert took < cluster["b"].node.timing.lease - 1, took
        rows = await query(db, "SELECT draining FROM nodes WHERE node_id = 'a'")
        assert rows == [(True,)]  # nothing is placed on a node that left
        print(f"a planned exit: its sessions ran on b after {took:.2f} s")
