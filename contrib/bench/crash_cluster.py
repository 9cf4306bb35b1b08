"""``crash.py --cluster``: kill -9 one node of a three-node cluster again and again
under send load, and check that no accepted send is lost and none is delivered twice.

Three ``wad serve --engine simulator`` processes on one throwaway PostgreSQL server
(started as the tests start theirs: tests/pgserver.py, a Unix socket, no system
service), each with its own state folder and the same ``secrets.key``; six sessions,
two per node. Client tasks send through every node (tests/cluster/underload.py:
the seed's send and a plain send, not retried; a keyed send, retried with its key
through the next node until it gets a definite answer). At each round one node
(in turn) gets SIGKILL; the round waits until its sessions are connected on the
others (the failover time), then starts it again on its state folder and goes on.
At the end, from the database (what the simulated phones received, ``sim_received``,
and the ``messages`` table):

- accepted (answered 200): each received exactly once, ``sent`` in the store;
- unanswered (the client's connection to the killed node broke, or another node
  said the owner "did not answer"): outcome unknown, maybe delivered, never twice;
- no text received twice (each client text is unique), nothing left pending, no
  device connected from two nodes at once (``sim_violations``).

Needs the test extra (psycopg, the test kit): ``.venv-test/bin/python
contrib/bench/crash.py --cluster --kills 3``.
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[2]
for kit in (ROOT / "tests", ROOT / "tests" / "cluster"):
    sys.path.insert(0, str(kit))

from daemons import link_all, ready, spawn, stop_nodes, until  # noqa: E402
from pgserver import start_server  # noqa: E402
from underload import NODE_ENV, Check, Load, api_keys, check, failover, pending  # noqa: E402
from underload import start_cluster as start_nodes  # noqa: E402

NAMES = ("a", "b", "c")
DEVICES = [f"crash{i}" for i in range(6)]
KINDS = ("seed", "keyed", "plain")


@dataclass
class ClusterReport:
    kills: int = 0
    failovers: list[float] = field(default_factory=list)
    found: Check | None = None
    load: Load | None = None

    @property
    def ok(self) -> bool:
        found, load = self.found, self.load
        return (
            found is not None
            and load is not None
            and not found.lost
            and not found.duplicated
            and not found.not_sent
            and found.pending == 0
            and not found.violations
            and not load.tally.keyed_gave_up
            and all(t < 15 for t in self.failovers)
        )

    def summary(self) -> str:
        assert self.found is not None and self.load is not None
        times = ", ".join(f"{t:.1f}" for t in self.failovers)
        median = statistics.median(self.failovers) if self.failovers else 0.0
        return (
            f"crash --cluster: {self.kills} kills, failover {times} s (median {median:.1f}),"
            f" {self.found.summary(self.load.tally)} -> {'PASS' if self.ok else 'FAIL'}"
        )


async def run(
    kills: int, workdir: Path, senders: int = 6, seed: int | None = None, say: Any = print
) -> ClusterReport:
    rng = random.Random(seed)
    report = ClusterReport()
    server = start_server()
    try:
        server.psql("CREATE DATABASE crash")
        url = server.url("crash")
        nodes = await start_nodes(workdir, url, NAMES)
        try:
            await _rounds(report, nodes, url, kills, senders, rng, say)
        finally:
            await stop_nodes(nodes)
    finally:
        server.stop("immediate")
        shutil.rmtree(server.folder, ignore_errors=True)
    return report


async def _rounds(
    report: ClusterReport,
    nodes: list[Any],
    url: str,
    kills: int,
    senders: int,
    rng: random.Random,
    say: Any,
) -> None:
    await link_all(nodes, DEVICES)
    load = Load(nodes, await api_keys(nodes[0], DEVICES))
    report.load = load
    async with trio.open_nursery() as clients:
        for i in range(senders):
            clients.start_soon(load.sender, i, KINDS[i % len(KINDS)])
        for n in range(kills):
            await load.accepted(len(load.tally.accepted) + 30, timeout=60)
            await trio.sleep(rng.uniform(0.0, 1.0))
            index = n % len(nodes)
            victim = nodes[index]
            listed = await nodes[(index + 1) % 3].sessions()
            owned = {d for d, s in listed.items() if s["node"] == victim.name}
            load.gone.add(victim.name)
            began = time.monotonic()
            victim.kill()
            report.kills += 1
            took = await failover(nodes, victim, owned)
            report.failovers.append(took)
            # The same node again, on its state folder (a new port: the nodes table says).
            await victim.client.aclose()
            nodes[index] = spawn(victim.folder, victim.name, url, env=NODE_ENV)
            await ready(nodes[index])
            load.gone.discard(victim.name)
            say(
                f"kill {n + 1}/{kills}: node {victim.name} ({len(owned)} sessions) failed over"
                f" in {took:.1f} s, back after {time.monotonic() - began:.1f} s;"
                f" {len(load.tally.accepted)} accepted so far"
            )
        await load.accepted(len(load.tally.accepted) + 30, timeout=60)
        clients.cancel_scope.cancel()

    async def none_pending() -> bool:
        return await pending(url) == 0

    await until(none_pending, 30, "no send left pending", nodes)
    report.found = await check(url, load.tally)
