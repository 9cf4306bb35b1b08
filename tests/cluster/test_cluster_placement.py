"""Placement on a real PostgreSQL server: free sessions spread over the live nodes,
one owner each (its advisory lock and its row), and a node id used once."""

from __future__ import annotations

import time

import pytest
import trio
from clusterkit import add_sessions, open_cluster, query, wait_until, with_sessions

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


async def test_nine_sessions_spread_three_by_three(pg_url: str) -> None:
    db = with_sessions(pg_url)
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


async def test_a_second_process_with_the_same_node_id_is_refused(pg_url: str) -> None:
    db = with_sessions(pg_url)
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


async def test_a_planned_exit_frees_its_sessions_without_waiting_for_the_lease(pg_url: str) -> None:
    db = with_sessions(pg_url)
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


async def test_each_node_takes_at_most_its_capacity_through_failover_and_drain(
    pg_url: str,
) -> None:
    """WAD_MAX_SESSIONS is each node's capacity: placement, a failover and a drain
    give a node no more; what has no room waits, unowned, until a node has some."""
    db = with_sessions(pg_url)
    async with open_cluster(db) as cluster:
        await cluster.add("a", capacity=2)
        await cluster.add("b", capacity=3)
        await add_sessions(db, [f"dev{i}" for i in range(7)])
        await wait_until(lambda: cluster.counts() == {"a": 2, "b": 3}, 10, "a full, b full")
        assert await cluster["a"].node.room() == 0
        waiting = await query(db, "SELECT count(*) FROM owners WHERE node_id IS NOT NULL")
        assert waiting == [(5,)]  # two sessions run nowhere
        nodes = {n.node_id: n.capacity for n in await cluster["a"].node.nodes()}
        assert nodes == {"a": 2, "b": 3}

        # A node with no cap joins: it takes the two that waited (and, rebalancing,
        # nothing from the full ones that would leave them above it).
        await cluster.add("c")
        assert await cluster["a"].node.room() is None
        await wait_until(lambda: cluster.running() == 7, 10, "every session runs")
        assert cluster.counts()["a"] <= 2 and cluster["b"].recorder.running.__len__() <= 3

        # b drains: a has room for none, c takes all of b's.
        await cluster["b"].node.drain()
        await wait_until(lambda: cluster.running() == 7, 10, "b's sessions run on c")
        assert cluster.counts()["a"] <= 2 and cluster.counts()["b"] == 0

        # c drains too, and nobody has room: its sessions stop and wait, unowned; the
        # drain still returns. They run again once c takes sessions again.
        await cluster["c"].node.drain()
        assert cluster.counts() == {"a": 2, "b": 0, "c": 0}
        await cluster["c"].node.resume()
        await wait_until(lambda: cluster.running() == 7, 10, "c runs the waiting ones")
        assert cluster.timeline.overlaps() == []


async def test_a_session_whose_lock_is_held_elsewhere_is_not_started(pg_url: str) -> None:
    """The advisory lock is the gate: while another connection holds a session's lock
    (a dead owner's backend the server has not dropped yet), no node starts it, even
    though placement targeted it."""
    db = with_sessions(pg_url)
    import psycopg

    holder = await trio.to_thread.run_sync(lambda: psycopg.connect(db, autocommit=True))
    try:
        await trio.to_thread.run_sync(
            holder.execute, "SELECT pg_advisory_lock(%s)", (session_key("held"),)
        )
        async with open_cluster(db, ["a", "b"]) as cluster:
            await add_sessions(db, ["held", "free"])
            await wait_until(lambda: cluster.running() == 1, 10, "the free one running")

            async def targeted() -> bool:
                rows = await query(db, "SELECT target FROM owners WHERE device_id = 'held'")
                return rows != [] and rows[0][0] is not None

            await wait_until(targeted, 5, "placement targeted the held one")
            # Not a synchronisation: two passes of every node, in which a claim that
            # ignored the lock would have started it.
            await trio.sleep(2 * cluster["a"].node.timing.placement + 0.5)
            assert cluster.runner_of("held") == []
            await trio.to_thread.run_sync(holder.close)
            await wait_until(lambda: cluster.runner_of("held") != [], 5, "held one running")
            assert cluster.timeline.overlaps() == []
    finally:
        await trio.to_thread.run_sync(holder.close)


async def test_sessions_added_later_go_to_the_least_loaded_and_deleted_ones_are_forgotten(
    pg_url: str,
) -> None:
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        await add_sessions(db, [f"dev{i}" for i in range(8)])
        await wait_until(lambda: cluster.running() == 8, 10, "8 running")
        assert sorted(cluster.counts().values()) == [2, 3, 3]
        lightest = min(cluster.counts(), key=lambda n: cluster.counts()[n])
        await add_sessions(db, ["late"])
        for member in cluster.members.values():
            member.node.wake()
        await wait_until(lambda: cluster.runner_of("late") != [], 5, "late running")
        assert cluster.runner_of("late") == [lightest]
        # The daemon deletes a session it runs: stops it, drops the row, tells the node.
        owner = cluster[lightest]
        await owner.recorder.stop("late")
        await query(db, "DELETE FROM sessions WHERE device_id = 'late'")
        await owner.node.forget("late")
        assert "late" not in owner.node.owned
        assert await query(db, "SELECT * FROM owners WHERE device_id = 'late'") == []
        held = await advisory_locks(db)
        assert session_key("late") not in held.get(lightest, set())
        assert cluster.running() == 8


def test_a_lock_connection_bounds_its_statements_and_checks_its_client(pg_url: str) -> None:
    db = with_sessions(pg_url)
    from wad.cluster.connection import connect

    conn = connect(db, 5.0, "wad-cluster probe")
    try:
        assert conn.autocommit
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("statement_timeout", "client_connection_check_interval")
        }
        assert shown == {"statement_timeout": "2500ms", "client_connection_check_interval": "1s"}
        assert conn.execute("SHOW application_name").fetchone() == ("wad-cluster probe",)
    finally:
        conn.close()


async def test_three_hundred_sessions_are_placed_in_a_few_decisions(pg_url: str) -> None:
    """A decision targets a whole batch; each node claims its share."""
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        await add_sessions(db, [f"dev{i:03}" for i in range(300)])
        took = await wait_until(lambda: cluster.running() == 300, 30, "300 running")
        assert cluster.counts() == {"a": 100, "b": 100, "c": 100}
        assert cluster.timeline.overlaps() == []
        print(f"placed 300 sessions on 3 nodes in {took:.2f} s")
