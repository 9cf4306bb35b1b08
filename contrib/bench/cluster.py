"""Benchmark: a wad cluster of 1, 2 and 3 nodes on one PostgreSQL server, all on this
machine: sessions, send throughput, failover.

    .venv/bin/python contrib/bench/cluster.py --sessions 300

A throwaway PostgreSQL server as the tests start one (``tests/pgserver.py``: initdb
in a temporary folder, a Unix socket), but durable (fsync and synchronous commits
on, as in production); for each node count a fresh database and that many ``wad
serve --engine simulator`` processes (each its own state folder, ``WAD_DATABASE_URL``,
``WAD_NODE_ID``, ``WAD_NODE_URL``, ``WAD_CLUSTER_SECRET``), no pace or rate limit.

- sessions: the simulator's devices of ``--sessions`` sessions are linked in the
  database first (as a phone's scan leaves them), then the sessions are created
  through the nodes in turn; measured from the first create until the
  cluster-wide list shows all of them connected;
- sends (``sendload.py``): ``POST /api/sessions/{id}/messages``, wrk one a node
  (the connections shared out; else ``loadgen.py``), median of ``--runs``; first
  *spread*, every node sending for every session (as behind nginx: a send reaches
  the node that runs its session one time in k and is forwarded otherwise), then
  (2 and 3 nodes) *to the owner*, each node sending for its own sessions only;
  with requests/s, the CPU milliseconds a send cost the nodes and PostgreSQL
  (``/proc``), which a machine shared with other work can still compare;
- failover (2 and 3 nodes): ``kill -9`` of one node, until every session it ran is
  connected on the others (and the simulated network saw no device connected
  twice at once).

``--sqlite`` adds one daemon on its embedded SQLite, loaded the same way, for
comparison.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1] / "tests"))
from benchlib import ADMIN, WadProcess, free_port, machine, metric, prepair  # noqa: E402
from pgserver import PgServer, start_server  # noqa: E402
from sendload import Figures, Plan, measure  # noqa: E402

from wad.store import now_iso  # noqa: E402

SECRET = "bench-cluster-secret-" + "0" * 16
NAMES = ("a", "b", "c")
#: One client for the orchestration's requests (a new one each costs tens of ms of
#: TLS set-up, which would be measured as the daemon's time). Its idle connections
#: expire before wad's keep-alive timeout (5 s) would close them under a request.
HTTP = httpx.Client(
    headers=ADMIN, timeout=60, limits=httpx.Limits(max_connections=16, keepalive_expiry=2.0)
)


@dataclass
class Result:
    nodes: int
    created: float = 0.0  # seconds to create them all
    connected: float = 0.0  # seconds from the first create until all connected
    spread: dict[str, int] = field(default_factory=dict)
    #: Sends through every node for every session; then each node for its own.
    spread_load: Figures = field(default_factory=Figures)
    owner_load: Figures | None = None
    forwarded: float = 0.0  # share of the spread sends another node forwarded
    failover: float | None = None
    moved: int = 0
    violations: int = 0


# -- the cluster ---------------------------------------------------------------------------


def start_nodes(folder: Path, url: str, count: int) -> list[WadProcess]:
    # One secrets.key on every node (README, "Running a cluster"): a node with
    # another key than the cluster's refuses to start.
    key = base64.b64encode(secrets.token_bytes(32)).decode() + "\n"
    nodes = []
    for name in NAMES[:count]:
        state = folder / name / "state"
        state.mkdir(parents=True, mode=0o700)
        fd = os.open(state / "secrets.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, key.encode())
        os.close(fd)
        port = free_port()
        env = {
            "WAD_DATABASE_URL": url,
            "WAD_NODE_ID": name,
            "WAD_NODE_URL": f"http://127.0.0.1:{port}",
            "WAD_CLUSTER_SECRET": SECRET,
        }
        node = WadProcess(state, env=env, port=port)
        node.log_path = folder / name / "wad.log"
        nodes.append(node.start())
    return nodes


def link_devices(url: str, devices: list[str]) -> None:
    """What a phone's scan leaves in the simulator's tables: the device is linked."""
    rows = [(d, f"1555{i:07d}", f"1555{i:07d}:7@s.whatsapp.net") for i, d in enumerate(devices)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO sim_devices (device_id, phone_number, jid) VALUES (%s, %s, %s)", rows
        )


def listed(url: str) -> dict[str, dict[str, object]]:
    r = HTTP.get(url + "/api/sessions")
    r.raise_for_status()
    return {s["deviceId"]: s for s in r.json()["sessions"]}


def until(condition: object, timeout: float, what: str) -> float:
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)  # other processes' state: polled
    return time.monotonic() - began


def create_sessions(nodes: list[WadProcess], devices: list[str]) -> None:
    """Each session created through the nodes in turn, 8 at a time."""

    def one(i: int) -> None:
        r = HTTP.post(nodes[i % len(nodes)].url + "/api/sessions", json={"deviceId": devices[i]})
        r.raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(len(devices))))


def set_keys(nodes: list[WadProcess], devices: list[str]) -> dict[str, str]:
    """Each session's API key, set through the nodes in turn; the keys."""

    def one(i: int) -> tuple[str, str]:
        device = devices[i]
        key = f"bench-key-{device}-" + "0" * 24
        url = f"{nodes[i % len(nodes)].url}/api/sessions/{device}/api-key"
        r = HTTP.put(url, json={"apiKey": key})
        r.raise_for_status()
        return device, key

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, range(len(devices))))


def postmaster(server: PgServer) -> int:
    return int((server.folder / "data" / "postmaster.pid").read_text().split()[0])


def forwarded_counts(nodes: list[WadProcess]) -> float:
    return sum(
        metric(n.url, "wad_cluster_forwarded_total", outcome="forwarded") or 0.0 for n in nodes
    )


# -- one node count --------------------------------------------------------------------------


def run_cluster(server: PgServer, count: int, args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(count)
    dbname = f"bench{count}"
    server.psql(f"CREATE DATABASE {dbname}")
    url = server.url(dbname)
    nodes = start_nodes(workdir / dbname, url, count)
    try:
        devices = [f"s{i:04d}" for i in range(args.sessions)]
        link_devices(url, devices)
        began = time.monotonic()
        create_sessions(nodes, devices)
        result.created = time.monotonic() - began

        def all_connected() -> bool:
            sessions = listed(nodes[0].url)
            return all(sessions.get(d, {}).get("connectionState") == "connected" for d in devices)

        until(all_connected, 300, f"{args.sessions} sessions connected")
        result.connected = time.monotonic() - began
        result.spread = dict(Counter(str(s["node"]) for s in listed(nodes[0].url).values()))
        print(
            f"{count} node(s): {args.sessions} sessions created in {result.created:.2f} s,"
            f" all connected {result.connected:.2f} s after the first create"
            f" (per node: {', '.join(f'{k} {v}' for k, v in sorted(result.spread.items()))})",
            flush=True,
        )

        keys = set_keys(nodes, devices)
        pids, pg = [n.pid for n in nodes], postmaster(server)
        everything = list(keys.items())
        # Every node sends for every session: k - 1 in k sends are forwarded.
        plan: Plan = [(n.url, everything) for n in nodes]
        before = forwarded_counts(nodes)
        result.spread_load = measure(f"{count} node(s), spread", plan, pids, pg, args, workdir)
        sent = sum(result.spread_load.rps) * args.duration
        result.forwarded = (forwarded_counts(nodes) - before) / sent if sent else 0.0
        if count >= 2:
            # Each node sends for the sessions it runs, as a client that knew would.
            owners = {d: str(s["node"]) for d, s in listed(nodes[0].url).items()}
            plan = [
                (n.url, [(d, k) for d, k in everything if owners[d] == n.env["WAD_NODE_ID"]])
                for n in nodes
            ]
            label = f"{count} node(s), to the owner"
            result.owner_load = measure(label, plan, pids, pg, args, workdir)

        if count >= 2:
            failover(nodes, url, result)
    finally:
        for node in nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in nodes:
            node.stop()
        server.psql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    return result


def failover(nodes: list[WadProcess], url: str, result: Result) -> None:
    victim, survivor = nodes[-1], nodes[0]
    name = victim.env["WAD_NODE_ID"]
    moved = {d for d, s in listed(survivor.url).items() if s["node"] == name}
    before = now_iso()
    began = time.monotonic()
    victim.kill()

    def elsewhere() -> bool:
        sessions = listed(survivor.url)
        return all(
            sessions[d]["node"] not in (None, name)
            and sessions[d]["connectionState"] == "connected"
            and str(sessions[d]["updatedAt"]) > before
            for d in moved
        )

    until(elsewhere, 120, f"the {len(moved)} sessions of {name} connected elsewhere")
    result.failover = time.monotonic() - began
    result.moved = len(moved)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM sim_violations").fetchone()
        result.violations = int(row[0]) if row else 0
    print(
        f"{result.nodes} nodes: kill -9 of {name}: its {len(moved)} sessions connected on"
        f" the others in {result.failover:.2f} s; devices connected twice at once:"
        f" {result.violations}",
        flush=True,
    )


def run_sqlite(args: argparse.Namespace, workdir: Path) -> Result:
    """One daemon on its embedded SQLite, the same sessions and load."""
    result = Result(1)
    state = workdir / "sqlite" / "state"
    devices = [f"s{i:04d}" for i in range(args.sessions)]
    for i, device in enumerate(devices):
        prepair(state, device, f"1555{i:07d}")
    node = WadProcess(state, log_path=workdir / "sqlite" / "wad.log").start()
    try:
        began = time.monotonic()
        create_sessions([node], devices)

        def all_connected() -> bool:
            sessions = listed(node.url)
            return all(sessions.get(d, {}).get("connectionState") == "connected" for d in devices)

        until(all_connected, 300, "sessions connected")
        result.connected = time.monotonic() - began
        print(
            f"SQLite, 1 node: {args.sessions} sessions all connected"
            f" {result.connected:.2f} s after the first create",
            flush=True,
        )
        plan: Plan = [(node.url, list(set_keys([node], devices).items()))]
        result.spread_load = measure("SQLite, 1 node", plan, [node.pid], None, args, workdir)
    finally:
        node.stop()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=300)
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run")
    p.add_argument("--runs", type=int, default=3, help="throughput runs (median)")
    p.add_argument("--connections", type=int, default=16, help="in all, shared by the nodes")
    p.add_argument("--python-generator", action="store_true", help="do not use wrk")
    p.add_argument("--sqlite", action="store_true", help="also one daemon on SQLite")
    args = p.parse_args()
    args.generator = "wrk" if shutil.which("wrk") and not args.python_generator else "python"
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    server = start_server(durable=True)
    with tempfile.TemporaryDirectory(prefix="wad-bench-cluster-") as tmp:
        try:
            for count in args.nodes:
                results.append(run_cluster(server, count, args, Path(tmp)))
        finally:
            server.stop("fast")
            shutil.rmtree(server.folder, ignore_errors=True)
        sqlite = run_sqlite(args, Path(tmp)) if args.sqlite else None
    labelled = [(f"PostgreSQL, {r.nodes} node(s)", r) for r in results]
    labelled += [("SQLite, 1 node", sqlite)] if sqlite is not None else []
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    for label, r in labelled:
        print(
            f"{label}: connected {r.connected:.2f} s; sends spread over the nodes"
            f" {r.spread_load.describe()}, {100 * r.forwarded:.0f} % forwarded"
        )
        if r.owner_load is not None:
            print(f"{label}: sends to each session's node {r.owner_load.describe()}")
        if r.failover is not None:
            print(
                f"{label}: failover after kill -9 {r.failover:.2f} s for {r.moved} sessions,"
                f" {r.violations} connected twice at once"
            )

    def summary(label: str, r: Result) -> str:
        text = (
            f"{label}: {r.connected:.1f} s, {r.spread_load.median:.0f} req/s"
            f" {r.spread_load.cpu_ms:.2f} ms CPU a send"
        )
        if r.owner_load is not None:
            text += f" (to the owner {r.owner_load.median:.0f} req/s {r.owner_load.cpu_ms:.2f} ms)"
        refused = sum(r.spread_load.refused.values())
        refused += sum(r.owner_load.refused.values()) if r.owner_load is not None else 0
        if refused:
            text += f", {refused} sends not answered 200"
        if r.failover is not None:
            text += f", failover {r.failover:.1f} s"
        return text

    print(
        f"cluster: {args.sessions} sessions connected; sends ({args.generator},"
        f" {args.connections} connections); failover after kill -9:"
        f" {'; '.join(summary(label, r) for label, r in labelled)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
