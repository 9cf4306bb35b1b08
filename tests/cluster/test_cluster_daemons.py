"""Three real ``wad serve`` processes on one PostgreSQL database (issue 20): sessions
created through any node spread over the three and connect; every node lists every
session with its owner; a session deleted through a node that does not run it
stops where it runs. (Failover: test_cluster_failover.py.)"""

from __future__ import annotations

from pathlib import Path

import trio
from clusterkit import query
from daemons import link_all, spawn, spread, start_nodes, stop_nodes, until
from systemd_manager import FakeManager

NAMES = ("a", "b", "c")


async def test_sessions_created_anywhere_spread_over_three_nodes(
    tmp_path: Path, pg_url: str
) -> None:
    nodes = await start_nodes(tmp_path, pg_url, NAMES)
    try:
        devices = [f"dev{i}" for i in range(9)]
        await link_all(nodes, devices)
        answers = [await n.sessions() for n in nodes]
        # Every node lists every session, with the same owner and state.
        assert answers[0] == answers[1] == answers[2]
        assert set(answers[0]) == set(devices)
        assert spread(answers[0]) == {"a": 3, "b": 3, "c": 3}
        assert {s["connectionState"] for s in answers[0].values()} == {"connected"}
    finally:
        await stop_nodes(nodes)


async def test_a_session_deleted_through_another_node_stops_where_it_ran(
    tmp_path: Path, pg_url: str
) -> None:
    nodes = await start_nodes(tmp_path, pg_url, NAMES)
    try:
        await link_all(nodes, ["dev0"])
        owner = (await nodes[0].sessions())["dev0"]["node"]
        other = next(n for n in nodes if n.name != owner)
        r = await other.client.get("/api/sessions/dev0")
        assert r.json()["session"]["node"] == owner
        r = await other.client.delete("/api/sessions/dev0")
        assert r.status_code == 200, r.text

        async def dropped() -> bool:
            # Only the owner drops its row, and only once it has stopped the session.
            return await query(pg_url, "SELECT device_id, node_id FROM owners") == []

        await until(dropped, 5, "the owner stopped the deleted session", nodes)
        for node in nodes:
            assert "dev0" not in await node.sessions()
        # Made again, it starts afresh: its linked device went with it.
        r = await other.client.post("/api/sessions", json={"deviceId": "dev0"})
        assert r.status_code == 201, r.text

        async def fresh() -> bool:
            listed = await other.sessions()
            return listed.get("dev0", {}).get("connectionState") == "waiting_qr"

        await until(fresh, 10, "dev0 waiting for a QR scan again", nodes)
    finally:
        await stop_nodes(nodes)


async def test_a_node_under_systemd_s_watchdog_is_fed(tmp_path: Path, pg_url: str) -> None:
    """The watchdog's store probe is SQLite's: on PostgreSQL the node still starts
    and feeds the watchdog (wad.service sets WatchdogSec)."""
    manager = FakeManager()
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "1000000"}
    node = spawn(tmp_path / "a", "a", pg_url, env=env)
    try:
        await trio.to_thread.run_sync(manager.wait_for, "READY")
        await trio.to_thread.run_sync(manager.wait_for, "WATCHDOG")
        assert node.alive
    finally:
        await stop_nodes([node])
        manager.close()
