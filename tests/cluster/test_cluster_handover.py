"""Planned handovers on a real PostgreSQL server: move, drain, and the gentle
rebalancing when a node joins. The owner stops a session before the target starts
it: no moment with a session on two nodes."""

from __future__ import annotations

import time

import pytest
import trio
from clusterkit import Entry, add_sessions, open_cluster, query, wait_until, with_sessions

from wad.cluster import MoveRefused


def handed_over(timeline_entries: list[Entry], device: str, source: str, target: str) -> float:
    """Seconds from the source's stop to the target's start of ``device``."""
    stop = next(e for e in timeline_entries if e.kind == "stop" and e.device == device)
    start = next(
        e for e in timeline_entries if e.kind == "start" and e.device == device and e.at > stop.at
    )
    assert stop.node == source and start.node == target
    return start.at - stop.at


async def test_move_hands_a_session_over_without_overlap(pg_url: str) -> None:
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b"]) as cluster:
        await add_sessions(db, [f"dev{i}" for i in range(4)])
        await wait_until(lambda: cluster.counts() == {"a": 2, "b": 2}, 10, "2 and 2")
        first, second = sorted(cluster["a"].recorder.running)
        began = time.monotonic()
        await cluster["b"].node.move(first, "b")  # asked of the owner by another node
        took = await wait_until(lambda: cluster.runner_of(first) == ["b"], 10, "b runs it")
        await cluster["a"].node.move(second, "b")  # asked by the owner itself
        await wait_until(lambda: cluster.runner_of(second) == ["b"], 10, "b runs the second")
        assert cluster.counts() == {"a": 0, "b": 4}
        entries = [e for e in cluster.timeline.ordered() if e.at >= began]
        gap = handed_over(entries, first, "a", "b")
        handed_over(entries, second, "a", "b")
        assert cluster.timeline.overlaps() == []
        assert await query(db, "SELECT node_id FROM owners WHERE device_id = %s", (first,)) == [
            ("b",)
        ]
        with pytest.raises(MoveRefused):
            await cluster["a"].node.move(first, "nowhere")  # no such node
        with pytest.raises(MoveRefused):
            await cluster["a"].node.move("unknown", "a")  # no such session
        with pytest.raises(MoveRefused):
            await cluster["a"].node.move(first, "b")  # already there
        print(f"move: done in {took:.2f} s, stop to start {gap:.2f} s")


async def test_drain_hands_everything_over_then_claims_nothing(pg_url: str) -> None:
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b", "c"]) as cluster:
        await add_sessions(db, [f"dev{i}" for i in range(6)])
        await wait_until(lambda: cluster.running() == 6, 10, "6 running")
        leaving = set(cluster["a"].recorder.running)
        began = time.monotonic()
        with trio.fail_after(15):
            await cluster["a"].node.drain()
        drained = time.monotonic() - began
        assert cluster["a"].recorder.running == set()
        took = await wait_until(lambda: cluster.running() == 6, 10, "all 6 running again")
        assert cluster.counts() == {"a": 0, "b": 3, "c": 3}
        entries = [e for e in cluster.timeline.ordered() if e.at >= began]
        for device in leaving:
            target = cluster.runner_of(device)[0]
            handed_over(entries, device, "a", target)
        assert await query(db, "SELECT draining FROM nodes WHERE node_id = 'a'") == [(True,)]
        # New sessions go to the others only.
        await add_sessions(db, ["new1", "new2", "new3"])
        await wait_until(lambda: cluster.running() == 9, 10, "9 running")
        assert cluster["a"].recorder.running == set()
        assert sorted(cluster.counts().values()) == [0, 4, 5]
        assert cluster.timeline.overlaps() == []
        # After maintenance, the node takes sessions again (rebalancing brings them).
        await cluster["a"].node.resume()
        await wait_until(lambda: cluster["a"].recorder.running != set(), 15, "a takes some")
        print(f"drain: a ran nothing after {drained:.2f} s, all running after {took:.2f} s more")


async def test_a_joining_node_gets_sessions_gradually(pg_url: str) -> None:
    db = with_sessions(pg_url)
    async with open_cluster(db, ["a", "b"]) as cluster:
        await add_sessions(db, [f"dev{i}" for i in range(12)])
        await wait_until(lambda: cluster.counts() == {"a": 6, "b": 6}, 10, "6 and 6")
        joined = time.monotonic()
        await cluster.add("c")
        took = await wait_until(
            lambda: cluster.counts() == {"a": 4, "b": 4, "c": 4}, 30, "4, 4 and 4"
        )
        rebalance = cluster["a"].node.timing.rebalance
        entries = [e for e in cluster.timeline.ordered() if e.at >= joined]
        for donor in ("a", "b"):
            stops = [e.at for e in entries if e.node == donor and e.kind == "stop"]
            assert len(stops) == 2
            # At most one session per donor every `rebalance` seconds.
            assert stops[1] - stops[0] >= rebalance - 0.2, stops
        starts = [e.at for e in entries if e.node == "c" and e.kind == "start"]
        assert len(starts) == 4
        assert starts[-1] - starts[0] >= rebalance - 0.2  # not all at once
        assert cluster.timeline.overlaps() == []
        # Settled: nothing moves any more.
        settled = len(cluster.timeline.entries)
        # Not a synchronisation: a quiet period longer than a rebalancing round, in
        # which a node that kept rebalancing would have moved something.
        await trio.sleep(rebalance + 1.5)
        assert len(cluster.timeline.entries) == settled
        print(f"join: 4/4/4 after {took:.2f} s")
