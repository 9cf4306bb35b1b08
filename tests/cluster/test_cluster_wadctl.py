"""``wadctl cluster``, ``move``, ``drain`` and ``undrain`` through a daemon's real
control socket: with a real ``ClusterNode`` on a real PostgreSQL server (the
daemon's side of it, what it runs, recorded by the cluster kit), and without a
cluster, where each says so and exits 1, never with a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio
from clusterkit import Recorder, add_sessions, open_cluster, wait_until, with_sessions
from conftest import Running, make_config, start_daemon

from wad.cluster import ClusterNode
from wad.ctl.main import EXIT_ERROR, EXIT_OK
from wad.engines.simulator.engine import SimulatorEngine


async def wadctl(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "wad.ctl.main", "--socket", str(sock), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    )


async def test_without_a_cluster_each_command_says_so(wad: Running, tmp_path: Path) -> None:
    sock = tmp_path / "wad.sock"
    for args in (["cluster"], ["move", "dev1", "b"], ["drain"], ["undrain"]):
        done = await wadctl(sock, *args)
        assert done.returncode == EXIT_ERROR, (args, done.stdout, done.stderr)
        assert "not part of a cluster" in done.stderr and "Traceback" not in done.stderr
    assert "wad_cluster" not in (await wad.client.get("/metrics", headers=wad.admin)).text


async def test_cluster_move_drain_through_the_control_socket(
    tmp_path: Path, pg_url: str, nursery: trio.Nursery
) -> None:
    db = with_sessions(pg_url)
    config = make_config(tmp_path, database_url=db, node_id="a", cluster_secret="s" * 32)
    a = await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))
    sock = tmp_path / "wad.sock"
    async with open_cluster(db, ["b"]) as cluster, trio.open_nursery() as mine:
        recorder = Recorder("a", cluster.timeline)
        node = ClusterNode(db, "a", recorder, node_url=a.url)
        await mine.start(node.run)
        a.daemon.cluster = node  # type: ignore[attr-defined]  # the daemon's, once wired
        await add_sessions(db, [f"dev{i}" for i in range(4)])
        await wait_until(lambda: len(recorder.running) == 2, 10, "a runs 2")

        async def listed() -> dict[str, dict]:
            done = await wadctl(sock, "--json", "cluster")
            assert done.returncode == EXIT_OK, done.stderr
            answer = json.loads(done.stdout)
            assert answer["node"] == "a"
            return {n["nodeId"]: n for n in answer["nodes"]}

        async def reported() -> bool:
            nodes = await listed()
            return nodes["a"]["sessions"] == 2 and nodes["b"]["sessions"] == 2

        await wait_until(reported, 10, "2 and 2 reported")
        nodes = await listed()
        assert nodes["a"]["url"] == a.url and nodes["a"]["live"] and not nodes["a"]["draining"]
        assert 0 <= nodes["b"]["heartbeatAge"] < 5
        table = (await wadctl(sock, "cluster")).stdout
        assert "* a" in table and "HEARTBEAT" in table

        moving = sorted(recorder.running)[0]
        done = await wadctl(sock, "move", moving, "b")
        assert done.returncode == EXIT_OK, done.stderr
        await wait_until(lambda: cluster.runner_of(moving) == ["b"], 10, "b runs it")
        refused = await wadctl(sock, "move", moving, "nowhere")
        assert refused.returncode == EXIT_ERROR and "cannot move" in refused.stderr

        metrics = (await a.client.get("/metrics", headers=a.admin)).text
        assert 'wad_cluster{figure="owned"} 1' in metrics
        assert 'wad_cluster_node{node="a"} 1' in metrics

        done = await wadctl(sock, "drain")
        assert done.returncode == EXIT_OK, done.stderr
        assert recorder.running == set()
        await wait_until(lambda: cluster.running() == 4, 10, "b runs all 4")
        assert (await listed())["a"]["draining"]
        done = await wadctl(sock, "undrain")
        assert done.returncode == EXIT_OK, done.stderr

        async def taking() -> bool:
            return not (await listed())["a"]["draining"]

        await wait_until(taking, 10, "a takes sessions again")
        assert cluster.timeline.overlaps() == []
        mine.cancel_scope.cancel()
