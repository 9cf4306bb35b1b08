"""Failover between real ``wad serve`` processes on one PostgreSQL database (issue
20), with the simulator, whose linked devices are in the database: a node killed
with SIGKILL has its sessions connected on the others within 15 s, a node stopped
with SIGTERM hands them over within a few seconds; both times printed. The
simulated network never sees a device connected from two nodes at once."""

from __future__ import annotations

import time
from pathlib import Path

from clusterkit import query
from daemons import link_all, spread, start_nodes, stop_nodes, until

from wad.store import now_iso

NAMES = ("a", "b", "c")


async def _failover(tmp_path: Path, pg_url: str, how: str) -> float:
    nodes = await start_nodes(tmp_path, pg_url, NAMES)
    try:
        devices = [f"dev{i}" for i in range(6)]
        await link_all(nodes, devices)
        listed = await nodes[0].sessions()
        victim, survivors = nodes[2], nodes[:2]
        moved = {d for d, s in listed.items() if s["node"] == victim.name}
        assert len(moved) == 2
        before = now_iso()
        began = time.monotonic()
        if how == "kill":
            victim.kill()
        else:
            victim.terminate()

        async def elsewhere() -> bool:
            listed = await survivors[0].sessions()
            return all(
                listed[d]["node"] in ("a", "b")
                and listed[d]["connectionState"] == "connected"
                and str(listed[d]["updatedAt"]) > before  # connected again, after the loss
                for d in moved
            )

        await until(elsewhere, 20, f"{victim.name}'s sessions connected elsewhere", nodes)
        took = time.monotonic() - began
        # The others never stopped; the two survivors list the same.
        listed = await survivors[0].sessions()
        assert listed == await survivors[1].sessions()
        assert {s["connectionState"] for s in listed.values()} == {"connected"}
        assert sum(spread(listed).values()) == 6 and set(spread(listed)) <= {"a", "b"}
        # The simulated network never saw a device connected from two nodes at once.
        assert await query(pg_url, "SELECT * FROM sim_violations") == []
        return took
    finally:
        await stop_nodes(nodes)


async def test_a_killed_node_s_sessions_connect_on_the_others_within_15_s(
    tmp_path: Path, pg_url: str
) -> None:
    took = await _failover(tmp_path, pg_url, "kill")
    print(f"failover after kill -9: sessions connected elsewhere in {took:.2f} s")
    assert took < 15


async def test_a_stopped_node_hands_its_sessions_over_within_a_few_seconds(
    tmp_path: Path, pg_url: str
) -> None:
    took = await _failover(tmp_path, pg_url, "term")
    print(f"handover after SIGTERM: sessions connected elsewhere in {took:.2f} s")
    assert took < 4
