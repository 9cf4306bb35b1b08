"""Cluster test kit: several ``ClusterNode``s in one trio test (each its own
connections), and a recording fake of the daemon's side (``SessionRunner``) that
writes every start and stop on one timeline.

Times are ``time.monotonic()`` (one clock for every node, also a node in a child
process: trio's own clock has a random offset per run).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import trio

from wad.cluster import ClusterNode, Timing


@dataclass(frozen=True)
class Entry:
    at: float
    node: str
    kind: str  # "start", "stop", "stop_all", "killed"
    device: str | None = None


@dataclass
class Timeline:
    entries: list[Entry] = field(default_factory=list)

    def add(self, node: str, kind: str, device: str | None = None, at: float | None = None) -> None:
        self.entries.append(Entry(time.monotonic() if at is None else at, node, kind, device))

    def ordered(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: e.at)

    def overlaps(self) -> list[Entry]:
        """Every start of a session while another node was running it (the
        simulator's "stream replaced": the thing that must never happen)."""
        running: dict[str, set[str]] = {}
        found = []
        for e in self.ordered():
            if e.kind == "start":
                assert e.device is not None
                here = running.setdefault(e.device, set())
                if here - {e.node}:
                    found.append(e)
                here.add(e.node)
            elif e.kind == "stop":
                assert e.device is not None
                running.get(e.device, set()).discard(e.node)
            else:  # stop_all, killed: the node runs nothing any more
                for nodes in running.values():
                    nodes.discard(e.node)
        return found

    def starts(self, devices: Iterable[str] | None = None, after: float = 0.0) -> list[Entry]:
        wanted = None if devices is None else set(devices)
        return [
            e
            for e in self.ordered()
            if e.kind == "start" and e.at >= after and (wanted is None or e.device in wanted)
        ]

    def first(self, node: str, kind: str, after: float = 0.0, device: str | None = None) -> Entry:
        for e in self.ordered():
            if (e.node, e.kind) == (node, kind) and e.at >= after and device in (None, e.device):
                return e
        raise AssertionError(f"no {kind} by {node} after {after}")


class Recorder:
    """The daemon's side, faked: it records and keeps what runs."""

    def __init__(self, node: str, timeline: Timeline) -> None:
        self.node = node
        self.timeline = timeline
        self.running: set[str] = set()

    async def start(self, device_id: str) -> None:
        self.running.add(device_id)
        self.timeline.add(self.node, "start", device_id)

    async def stop(self, device_id: str) -> None:
        self.running.discard(device_id)
        self.timeline.add(self.node, "stop", device_id)

    def stop_all(self) -> None:
        self.running.clear()
        self.timeline.add(self.node, "stop_all")


@dataclass
class Member:
    node: ClusterNode
    recorder: Recorder
    scope: trio.CancelScope
    done: trio.Event

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


class Cluster:
    def __init__(self, url: str, timeline: Timeline, nursery: trio.Nursery) -> None:
        self.url = url
        self.timeline = timeline
        self.nursery = nursery
        self.members: dict[str, Member] = {}

    async def add(self, name: str, timing: Timing | None = None, capacity: int = 0) -> Member:
        recorder = Recorder(name, self.timeline)
        node = ClusterNode(
            self.url, name, recorder, node_url=f"http://{name}", timing=timing, capacity=capacity
        )
        member = Member(node, recorder, trio.CancelScope(), trio.Event())

        async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with member.scope:
                    await node.run(task_status=task_status)
            finally:
                member.done.set()

        await self.nursery.start(serve)
        self.members[name] = member
        return member

    def __getitem__(self, name: str) -> Member:
        return self.members[name]

    def counts(self) -> dict[str, int]:
        return {name: len(m.recorder.running) for name, m in self.members.items()}

    def running(self) -> int:
        return sum(self.counts().values())

    def runner_of(self, device: str) -> list[str]:
        return [n for n, m in self.members.items() if device in m.recorder.running]


@asynccontextmanager
async def open_cluster(
    url: str, names: Iterable[str] = (), timing: Timing | None = None
) -> AsyncIterator[Cluster]:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(url, Timeline(), nursery)
        for name in names:
            await cluster.add(name, timing)
        yield cluster
        nursery.cancel_scope.cancel()


def execute(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


async def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return await trio.to_thread.run_sync(execute, url, sql, params)


async def add_sessions(url: str, devices: Iterable[str]) -> None:
    def insert() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.cursor().executemany(
                "INSERT INTO sessions (device_id) VALUES (%s)", [(d,) for d in devices]
            )

    await trio.to_thread.run_sync(insert)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float, what: str
) -> float:
    """Poll ``condition`` until it holds; the seconds it took. A poll, not an event:
    what is waited for is decided by other nodes on the database server's clock (a
    lease running out there, another node's next pass), of which this process gets
    no signal."""
    began = time.monotonic()
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await trio.sleep(0.05)


def with_sessions(pg_url: str) -> str:
    """The fresh database of ``pg_url`` with the store's ``sessions`` table (the part
    the cluster reads), as the PostgreSQL store will create it; its URL. (A helper,
    not a fixture: a conftest.py here would shadow the tests' top-level one, which
    other suites import as ``conftest``.)"""
    execute(pg_url, "CREATE TABLE IF NOT EXISTS sessions (device_id TEXT PRIMARY KEY)")
    return pg_url
