"""Fencing on a real PostgreSQL server: a node that loses its lock connection, or
whose heartbeat stops succeeding, stops all its sessions before any other node
starts one of them; zero moments with a session on two nodes."""

from __future__ import annotations

import time

import psycopg
import trio
from clusterkit import (
    Cluster,
    add_sessions,
    execute,
    open_cluster,
    query,
    wait_until,
    with_sessions,
)


def report(what: str, seconds: float) -> None:
    print(f"{what}: {seconds:.2f} s")


async def nine_on_three(cluster: Cluster, db: str) -> None:
    await add_sessions(db, [f"dev{i}" for i in range(9)])
    await wait_until(lambda: cluster.counts() == {"a": 3, "b": 3, "c": 3}, 10, "3/3/3")


def restarted(cluster: Cluster, devices: set[str], since: float) -> bool:
    """Every one of ``devices`` started again after ``since`` and running now."""
    again = {s.device for s in cluster.timeline.starts(devices, after=since)}
    return again == devices and all(cluster.runner_of(d) for d in devices)


def assert_fenced_first(cluster: Cluster, node: str, devices: set[str], since: float) -> float:
    """The node's stop_all came before any start of its sessions after ``since``;
    the fence's delay after ``since``."""
    fence = cluster.timeline.first(node, "stop_all", after=since)
    starts = cluster.timeline.starts(devices, after=since)
    assert starts, "the sessions were not started again"
    assert fence.at < min(s.at for s in starts)
    assert cluster.timeline.overlaps() == []
    return fence.at - since


async def test_a_terminated_lock_connection_fences_before_anyone_else_starts(pg_url: str) -> None:
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        await nine_on_three(cluster, db)
        victim = set(cluster["a"].recorder.running)
        killed_at = time.monotonic()
        rows = await query(
            db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'wad-cluster a'",
        )
        assert rows == [(True,)]
        took = await wait_until(
            lambda: restarted(cluster, victim, killed_at), 15, "a's sessions running again"
        )
        delay = assert_fenced_first(cluster, "a", victim, killed_at)
        assert delay < cluster["a"].node.timing.fence_after
        assert cluster["a"].node.statistics().fences == 1
        await wait_until(lambda: cluster["a"].node.statistics().connected, 10, "a reconnected")
        report("terminated lock connection: a fenced after", delay)
        report("terminated lock connection: a's sessions running again after", took)


async def test_a_stalled_heartbeat_fences_on_the_owners_own_clock(pg_url: str) -> None:
    """The lock connection stays open but its heartbeat cannot succeed (a third
    connection holds the node's row): the owner fences within lease/2 of its last
    successful heartbeat; the others wait for the lease by the server's clock."""
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        await nine_on_three(cluster, db)
        victim = set(cluster["a"].recorder.running)
        timing = cluster["a"].node.timing
        blocker = await trio.to_thread.run_sync(lambda: psycopg.connect(db))
        try:
            blocked_at = time.monotonic()
            await trio.to_thread.run_sync(
                blocker.execute, "SELECT 1 FROM nodes WHERE node_id = 'a' FOR UPDATE"
            )
            took = await wait_until(
                lambda: all(set(cluster.runner_of(d)) & {"b", "c"} for d in victim),
                15,
                "a's sessions running on b and c",
            )
            delay = assert_fenced_first(cluster, "a", victim, blocked_at)
            # Fenced by its own clock: within lease/2 after the last success, which
            # was at most one heartbeat before the block.
            assert delay <= timing.fence_after + 0.5, delay
            fence = cluster.timeline.first("a", "stop_all", after=blocked_at)
            first_start = min(s.at for s in cluster.timeline.starts(victim, after=blocked_at))
            # The others waited for the lease to run out on the server's clock.
            assert first_start - fence.at >= timing.lease - timing.fence_after - 1.0
            assert cluster["a"].recorder.running == set()
        finally:
            await trio.to_thread.run_sync(blocker.close)
        await wait_until(lambda: cluster["a"].node.statistics().connected, 15, "a reconnected")
        assert cluster.timeline.overlaps() == []
        report("stalled heartbeat: a fenced after", delay)
        report("stalled heartbeat: first of a's sessions elsewhere after", first_start - blocked_at)
        report("stalled heartbeat: all of a's sessions elsewhere after", took)


async def test_a_killed_node_s_sessions_start_elsewhere_within_15_s(pg_url: str) -> None:
    """A node in its own process, killed with SIGKILL: its connections vanish with it,
    nothing of it says goodbye."""
    db = with_sessions(pg_url)
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("node_process.py")
    async with open_cluster(db, ["a", "b"]) as cluster:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(script), db, "k"], stdout=-1
        )
        ready = trio.Event()
        running_k: set[str] = set()

        async def read_lines() -> None:
            assert process.stdout is not None
            buffer = b""
            async for chunk in process.stdout:
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    at, kind, *device = line.decode().split()
                    if kind == "ready":
                        ready.set()
                        continue
                    cluster.timeline.add("k", kind, device[0] if device else None, float(at))
                    if kind == "start":
                        running_k.add(device[0])

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_lines)
                with trio.fail_after(20):
                    await ready.wait()
                await add_sessions(db, [f"dev{i}" for i in range(9)])
                await wait_until(
                    lambda: cluster.counts() == {"a": 3, "b": 3} and len(running_k) == 3,
                    10,
                    "3/3/3 with k in its own process",
                )
                process.kill()
                killed_at = time.monotonic()
                cluster.timeline.add("k", "killed", at=killed_at)
                took = await wait_until(
                    lambda: restarted(cluster, running_k, killed_at),
                    15,
                    "k's sessions running on a and b",
                )
                nursery.cancel_scope.cancel()
        finally:
            process.kill()
            await process.wait()
        assert cluster.timeline.overlaps() == []
        assert cluster.counts() == {"a": 5, "b": 4} or cluster.counts() == {"a": 4, "b": 5}
        # Nobody started k's sessions before its lease had run out.
        first = min(s.at for s in cluster.timeline.starts(running_k, after=killed_at))
        assert first - killed_at >= cluster["a"].node.timing.lease - 1.5
        report("killed node: first of its sessions elsewhere after", first - killed_at)
        report("killed node: all of its sessions elsewhere after", took)
        execute(db, "SELECT 1")


async def test_a_database_restart_fences_every_node_then_they_start_again() -> None:
    """The server itself goes away (its own throwaway server, restarted): every node
    fences, reconnects once it is back, and the sessions are placed again."""
    import contextlib
    import shutil
    import subprocess

    from pgserver import start_server

    server = await trio.to_thread.run_sync(start_server)
    try:
        url = server.url()
        execute(url, "CREATE TABLE sessions (device_id TEXT PRIMARY KEY)")
        async with open_cluster(url, ["a", "b"]) as cluster:
            devices = {f"dev{i}" for i in range(4)}
            await add_sessions(url, devices)
            await wait_until(lambda: cluster.counts() == {"a": 2, "b": 2}, 10, "2 and 2")
            down_at = time.monotonic()
            await trio.to_thread.run_sync(server.stop, "fast")

            def fenced(node: str) -> bool:
                return any(
                    e.node == node and e.kind == "stop_all" and e.at >= down_at
                    for e in cluster.timeline.entries
                )

            await wait_until(lambda: fenced("a") and fenced("b"), 5, "both fenced")
            assert cluster.running() == 0
            await trio.to_thread.run_sync(server.start)
            took = await wait_until(
                lambda: restarted(cluster, devices, down_at) and cluster.running() == 4,
                20,
                "the sessions running again",
            )
            for node in ("a", "b"):
                fence = cluster.timeline.first(node, "stop_all", after=down_at)
                assert all(fence.at < s.at for s in cluster.timeline.starts(after=down_at))
            assert cluster.timeline.overlaps() == []
            assert all(m.node.statistics().fences == 1 for m in cluster.members.values())
            report("database restart: sessions running again after the server was back", took)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            await trio.to_thread.run_sync(server.stop, "immediate")
        shutil.rmtree(server.folder, ignore_errors=True)
