"""Every node of a cluster must have the same ``secrets.key``: a node started with
another one (its own, made at its first start) refuses to start, saying what to copy,
before it has done anything; with the cluster's key copied in, it starts."""

from __future__ import annotations

from pathlib import Path

import trio
from daemons import KEY, ready, spawn, stop_nodes


async def test_a_node_with_another_secrets_key_refuses_to_start(
    tmp_path: Path, pg_url: str
) -> None:
    first = spawn(tmp_path / "a", "a", pg_url, "--engine", "simulator")
    nodes = [first]
    try:
        await ready(first)
        stray = spawn(tmp_path / "b", "b", pg_url, "--engine", "simulator", key=None)
        nodes.append(stray)
        with trio.fail_after(60):  # another process's end, waited for in a thread
            code = await trio.to_thread.run_sync(stray.proc.wait, abandon_on_cancel=True)
        assert code == 2, stray.log.read_text()
        log = stray.log.read_text()
        assert "is not the cluster's key" in log and "Copy secrets.key" in log, log
        # Its own key stays where it was (nothing overwritten), and it is not the cluster's.
        assert (tmp_path / "b" / "state" / "secrets.key").read_text() != KEY
        # With the cluster's key copied in, the same node starts.
        second = spawn(tmp_path / "b", "b", pg_url, "--engine", "simulator")
        nodes.append(second)
        await ready(second)
        r = await second.client.get("/api/sessions")
        assert r.status_code == 200
    finally:
        await stop_nodes(nodes)
