"""Webhook deliveries shared by the nodes of a cluster (issue 20): several delivery
workers, each on a PostgresStore of its own, on one database (tests/pgserver.py),
posting to a real receiver on loopback that notes each attempt by its webhook-id
(one event, one endpoint: one delivery) and whether it overlapped another attempt
of the same delivery.

- N deliveries through three nodes: each attempted once, never by two nodes at once,
  the three sharing them (the writer is woken, the others find them by their poll);
- the claims' rules one by one: a live claim excludes, ``SKIP LOCKED`` does not wait,
  a lapsed claim is taken over, a late outcome of a lapsed claim is not written;
- a worker whose lease lapses mid-attempt: another node delivers, and the first
  one's late timeout does not overwrite the delivered row;
- a worker that stops releases what it cut short: another node sends it at once.

The lease is on the server's clock (``now()``), which trio's autojump_clock cannot
move, and the workers' statements run in threads: the tests run on the real clock,
with short leases and polls, and wait for the receiver's requests and the workers'
polls and writes, never for a length of time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import trio
from wad_plugins.webhooks.db import WebhookDb, WebhookQueries
from wad_plugins.webhooks.delivery import DeliveryWorker
from wad_plugins.webhooks.outbox import Limits, Outcome
from wad_plugins.webhooks.sealing import SecretBox
from wad_plugins.webhooks.settings import Settings
from wad_plugins.webhooks.signing import new_secret
from webhook_receiver import Received, Receiver

from wad.net.guard import Guard, parse_networks
from wad.store.database import Queries
from wad.store.postgres import PostgresStore

LOOPBACK = parse_networks("127.0.0.0/8")
LIMITS = Limits(failures=20, failing_for=1e9)


@dataclass
class Attempts:
    """What the receiver saw: every attempt by webhook-id, and each one that arrived
    while another attempt of the same delivery was still unanswered."""

    receiver: Receiver
    hold: bool = False  # answer nothing until released
    overlaps: list[str] = field(default_factory=list)

    def answer(self, n: int, request: Received) -> int | None:
        wid = request.headers["webhook-id"]
        if any(
            r.headers["webhook-id"] == wid and r.status is None for r in self.receiver.requests[:-1]
        ):
            self.overlaps.append(wid)
        return None if self.hold else 200

    def counts(self) -> Counter[str]:
        return Counter(r.headers["webhook-id"] for r in self.receiver.requests)

    def delivered(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.receiver.answered()}


@dataclass
class Node:
    name: str
    store: PostgresStore
    db: WebhookDb
    worker: DeliveryWorker
    scope: trio.CancelScope
    done: trio.Event


class Cluster:
    """Nodes on one database, one session with one endpoint on the receiver."""

    def __init__(self, pg_url: str, folder: Path, nursery: trio.Nursery, url: str) -> None:
        self.pg_url, self.folder, self.nursery, self.url = pg_url, folder, nursery, url
        self.box = SecretBox.load(folder / "secrets.key")  # copied to every node
        self.nodes: dict[str, Node] = {}
        self.endpoint = ""

    def open(self, name: str) -> tuple[PostgresStore, WebhookDb]:
        store = PostgresStore(self.pg_url, path=self.folder / name / "wad.db", node=name)
        db = WebhookDb(store)
        db.migrate()
        return store, db

    async def add(self, name: str, **settings: Any) -> Node:
        store, db = self.open(name)
        if not self.endpoint:
            await store.run(lambda q: q.create_session("s1"))
            endpoint = await db.run(
                lambda w: w.create_endpoint("s1", self.url, None, new_secret(), self.box)
            )
            self.endpoint = endpoint.id
        options = {"timeout": 10.0, "endpoint_concurrency": 4, **settings}
        worker = DeliveryWorker(
            db, self.box, Settings(allow_networks=LOOPBACK, **options), Guard(LOOPBACK), node=name
        )
        worker.poll = 0.05
        node = Node(name, store, db, worker, trio.CancelScope(), trio.Event())

        async def run() -> None:
            try:
                with node.scope:
                    await worker.run()
            finally:
                node.done.set()

        self.nursery.start_soon(run)
        self.nodes[name] = node
        return node

    async def stop(self, name: str) -> None:
        node = self.nodes[name]
        node.scope.cancel()
        await node.done.wait()

    def close(self) -> None:
        for node in self.nodes.values():
            node.scope.cancel()
            node.store.close()

    async def emit(self, node: Node, count: int) -> list[str]:
        """``count`` events of s1 written through ``node``, each in its own transaction
        with its delivery; that node's worker is woken, as the plugin does."""

        def one(q: Queries, i: int) -> str:
            event = q.append_event("s1", "message", {"n": i})
            body = json.dumps({"event": "message", "n": i})
            assert WebhookQueries.of(q).enqueue(event, body, time.time()) == [self.endpoint]
            return event.id

        ids = [await node.store.run(lambda q, i=i: one(q, i)) for i in range(count)]
        node.worker.wake([self.endpoint])
        return ids

    async def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        store = next(iter(self.nodes.values())).store
        return await store.read(lambda q: [tuple(r) for r in q.db.execute(sql, args).fetchall()])

    async def settled(self) -> None:
        """Until no delivery is pending (each worker's writes are waited for; a write
        that landed between the count and the wait is seen at the next look)."""
        while (await self.rows("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"))[
            0
        ][0]:
            with trio.move_on_after(0.5):
                await _first(node.worker.wait_recorded for node in self.nodes.values())

    async def polled(self, times: int = 2) -> None:
        """Until every node has asked for due deliveries ``times`` more times."""
        for _ in range(times):
            async with trio.open_nursery() as nursery:
                for node in self.nodes.values():
                    nursery.start_soon(node.worker.wait_polled)


async def _first(waits: Any) -> None:
    async with trio.open_nursery() as nursery:
        for wait in waits:

            async def one(wait: Callable[[], Any] = wait) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(one)


@asynccontextmanager
async def cluster(
    pg_url: str, folder: Path, nursery: trio.Nursery
) -> AsyncIterator[tuple[Cluster, Attempts]]:
    receiver = Receiver()
    attempts = Attempts(receiver)
    receiver.answer = attempts.answer
    await nursery.start(receiver.serve)
    nodes = Cluster(pg_url, folder, nursery, receiver.url)
    try:
        yield nodes, attempts
    finally:
        receiver.release.set()
        nodes.close()


async def test_three_nodes_attempt_each_delivery_once_and_never_two_at_a_time(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """40 events written through node a (half before the workers start, half after:
    only a is woken for those), the receiver holding every request: each node takes
    its 4 slots' worth, 12 different deliveries, and looking again while they are in
    flight takes none of them twice. Released, all 40 arrive once each."""
    async with cluster(pg_url, tmp_path, nursery) as (nodes, attempts):
        attempts.hold = True
        a = await nodes.add("a")
        first = await nodes.emit(a, 20)
        await nodes.add("b")
        await nodes.add("c")
        second = await nodes.emit(a, 20)
        with trio.fail_after(20):
            await attempts.receiver.wait_until(lambda: len(attempts.receiver.requests) >= 12)
            await nodes.polled(3)  # every node looked again while all 12 were in flight
        assert len(attempts.receiver.requests) == 12
        assert set(attempts.counts().values()) == {1}
        claimed = await nodes.rows(
            "SELECT claimed_by, count(*) FROM webhook_deliveries WHERE claimed_by IS NOT NULL"
            " GROUP BY claimed_by ORDER BY claimed_by"
        )
        assert claimed == [("a", 4), ("b", 4), ("c", 4)]

        attempts.hold = False
        attempts.receiver.release.set()
        with trio.fail_after(30):
            await attempts.receiver.wait_until(lambda: len(attempts.delivered()) == 40)
            await nodes.settled()
        counts = attempts.counts()
        assert set(counts) == set(first + second)
        assert set(counts.values()) == {1}, counts.most_common(3)
        assert attempts.overlaps == []
        rows = await nodes.rows(
            "SELECT status, attempts, claimed_by, count(*) FROM webhook_deliveries"
            " GROUP BY status, attempts, claimed_by"
        )
        assert rows == [("delivered", 1, None, 40)]
        sent = {name: node.worker.sent for name, node in nodes.nodes.items()}
        print(f"40 deliveries by node: {sent}")
        assert sum(sent.values()) == 40 and min(sent.values()) >= 4


async def test_claims_exclude_skip_locked_rows_lapse_and_fence_late_outcomes(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    async with cluster(pg_url, tmp_path, nursery) as (nodes, _):
        a_store, a = nodes.open("a")
        b_store, b = nodes.open("b")
        try:
            await a_store.run(lambda q: q.create_session("s1"))
            endpoint = await a.run(
                lambda w: w.create_endpoint("s1", "http://x", None, "whsec_x", nodes.box)
            )

            def emit(q: Queries) -> None:
                event = q.append_event("s1", "message", {})
                WebhookQueries.of(q).enqueue(event, "{}", 100.0)

            for _ in range(2):
                await a_store.run(emit)
            one, two = (d.id for d in await a.read(lambda w: w.due_for(endpoint.id, 100, [], 9)))
            now = time.time()

            # A live claim: nobody else takes it, and the due queries no longer list it.
            assert await a.run(lambda w: w.claim([one], "a", 30, now)) == {one: (1, 0)}
            assert await b.run(lambda w: w.claim([one], "b", 30, now)) == {}
            due = await b.read(lambda w: w.due_for(endpoint.id, now, [], 9))
            assert [d.id for d in due] == [two]

            # A row another transaction is claiming is skipped, not waited for.
            with psycopg.connect(pg_url) as other:
                other.execute("SELECT 1 FROM webhook_deliveries WHERE id = %s FOR UPDATE", (two,))
                with trio.fail_after(5):
                    assert await b.run(lambda w: w.claim([two], "b", 30, now)) == {}
            assert await b.run(lambda w: w.claim([two], "b", 30, now)) == {two: (1, 0)}

            # a's claim lapses (as if a died mid-attempt): it is due again, b takes it.
            await a_store.run(
                lambda q: q.db.execute(
                    "UPDATE webhook_deliveries SET claimed_until = 0 WHERE id = ?", (one,)
                )
            )
            assert await b.read(lambda w: w.due_unclaimed(now)) == {endpoint.id}
            assert await b.run(lambda w: w.claim([one], "b", 30, now)) == {one: (2, 0)}
            assert await b.read(lambda w: w.due_unclaimed(now)) == set()

            # a's late answer (under claim 1) is not written; b's (claim 2) is.
            late = Outcome(one, endpoint.id, True, 200, None, claim=1)
            assert await a.run(lambda w: w.record([late], LIMITS, now)) == []
            row = "SELECT status, attempts, claimed_by, last_status_code FROM webhook_deliveries"
            assert await nodes_rows(a_store, f"{row} WHERE id = ?", (one,)) == [
                ("pending", 0, "b", None)
            ]
            retry = Outcome(one, endpoint.id, False, 500, "boom", retry_at=now + 60, claim=2)
            assert await b.run(lambda w: w.record([retry], LIMITS, now)) == []
            assert await nodes_rows(a_store, f"{row} WHERE id = ?", (one,)) == [
                ("pending", 1, None, 500)
            ]
            # Released with its retry later: due for no one now, anyone's at its time.
            assert await b.run(lambda w: w.claim([one], "b", 30, now)) == {}
            assert await a.run(lambda w: w.claim([one], "a", 30, now + 61)) == {one: (3, 1)}

            # A lapsed claim nobody took over is still the latest: its outcome counts.
            await b_store.run(
                lambda q: q.db.execute(
                    "UPDATE webhook_deliveries SET claimed_until = 0 WHERE id = ?", (two,)
                )
            )
            done = Outcome(two, endpoint.id, True, 200, None, claim=1)
            assert await b.run(lambda w: w.record([done], LIMITS, now)) == []
            assert await nodes_rows(a_store, f"{row} WHERE id = ?", (two,)) == [
                ("delivered", 1, None, 200)
            ]
        finally:
            a_store.close()
            b_store.close()


async def nodes_rows(
    store: PostgresStore, sql: str, args: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    return await store.read(lambda q: [tuple(r) for r in q.db.execute(sql, args).fetchall()])


async def test_a_lease_lapsed_mid_attempt_goes_to_another_node_and_its_late_end_is_dropped(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """a's attempt hangs past its lease (0.5 s, for an attempt that times out at 5 s);
    b takes the delivery and it is answered 200; a's timeout, later, is not written
    over b's success: the row says delivered, one attempt, status 200."""
    async with cluster(pg_url, tmp_path, nursery) as (nodes, attempts):
        held: list[str] = []

        def answer(n: int, request: Received) -> int | None:
            attempts.answer(n, request)
            if n == 1:
                held.append(request.headers["webhook-id"])
                return None  # a's: never answered (released at the end)
            return 200

        attempts.receiver.answer = answer
        a = await nodes.add("a", timeout=5.0)
        assert a.worker.claims is not None
        a.worker.claims.margin = -4.5  # a lease of 0.5 s: it lapses during the attempt
        (event_id,) = await nodes.emit(a, 1)
        with trio.fail_after(20):
            await attempts.receiver.wait_until(lambda: len(attempts.receiver.requests) == 1)
            b = await nodes.add("b")
            await attempts.receiver.wait_until(lambda: len(attempts.delivered()) == 1)
            await a.worker.wait_recorded()  # a's attempt ended by its timeout, at 5 s
            await nodes.settled()  # and b's success is written
        assert held == [event_id] and attempts.counts() == {event_id: 2}
        rows = await nodes.rows(
            "SELECT status, attempts, last_status_code, last_error, claims FROM webhook_deliveries"
        )
        assert rows == [("delivered", 1, 200, None, 2)]
        assert b.worker.sent == 1 and a.worker.sent == 1


async def test_a_stopping_node_releases_what_it_cut_short(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """a stops with 4 attempts in flight (the receiver holds them): their claims are
    released, so b sends them at once instead of after their lease (10 s + 5 s)."""
    async with cluster(pg_url, tmp_path, nursery) as (nodes, attempts):
        attempts.hold = True
        a = await nodes.add("a")
        ids = await nodes.emit(a, 4)
        with trio.fail_after(10):
            await attempts.receiver.wait_until(lambda: len(attempts.receiver.requests) == 4)
        await nodes.stop("a")
        assert await nodes.rows(
            "SELECT count(*) FROM webhook_deliveries WHERE claimed_by = 'a'"
        ) == [(0,)]
        attempts.hold = False
        began = trio.current_time()
        await nodes.add("b")
        with trio.fail_after(5):
            await attempts.receiver.wait_until(lambda: attempts.delivered() >= set(ids))
            await nodes.settled()
        print(f"a's cut-short deliveries sent by b {trio.current_time() - began:.2f} s after")
        assert (await nodes.rows("SELECT DISTINCT status FROM webhook_deliveries")) == [
            ("delivered",)
        ]
