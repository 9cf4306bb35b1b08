"""Three real ``wad serve`` processes on one PostgreSQL database (issue 20): sessions
created through any node spread over the three and connect; every node lists every
session with its owner; a session deleted through a node that does not run it
stops where it runs. (Failover: test_cluster_failover.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import trio
from clusterkit import query
from daemons import link_all, spawn, spread, start_nodes, stop_nodes, until, wadctl
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


async def test_wad_max_sessions_is_each_node_s_capacity(tmp_path: Path, pg_url: str) -> None:
    """Two nodes of WAD_MAX_SESSIONS=2: four sessions fit, a fifth is refused through
    either node, with the single daemon's error; wadctl cluster shows each cap."""
    nodes = await start_nodes(tmp_path, pg_url, ("a", "b"), env={"WAD_MAX_SESSIONS": "2"})
    try:
        for i in range(4):
            r = await nodes[i % 2].client.post("/api/sessions", json={"deviceId": f"dev{i}"})
            assert r.status_code == 201, r.text

        async def placed() -> bool:
            return spread(await nodes[0].sessions()) == {"a": 2, "b": 2}

        await until(placed, 15, "two sessions on each node", nodes)
        for node in nodes:
            r = await node.client.post("/api/sessions", json={"deviceId": "dev4"})
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "too_many_sessions"
            assert "WAD_MAX_SESSIONS" in r.json()["error"]
        assert "dev4" not in await nodes[1].sessions()
        done = await wadctl(nodes[0], "--json", "cluster")
        assert {n["nodeId"]: n["maxSessions"] for n in json.loads(done.stdout)["nodes"]} == {
            "a": 2,
            "b": 2,
        }
        # One deleted: there is room again, through either node.
        assert (await nodes[1].client.delete("/api/sessions/dev0")).status_code == 200
        r = await nodes[1].client.post("/api/sessions", json={"deviceId": "dev4"})
        assert r.status_code == 201, r.text
    finally:
        await stop_nodes(nodes)
