"""Client load on a cluster of real ``wad serve`` processes, and its accounting
(tests/cluster/test_cluster_under_load.py).

Client tasks send texts, each text unique, through given nodes, round-robin over
the sessions, as fast as they are answered; readers read sessions and their
messages. Three kinds of sender:

- ``seed``: the seed's ``POST /api/messages/send`` (its session in the body), not
  retried: an answer other than 200 is counted, a request that got no answer
  (its node died, or another node says the owner "did not answer") is
  *unanswered*: its outcome is unknown, it may have been sent, never twice;
- ``plain``: ``POST /api/sessions/{id}/messages`` without a key, likewise;
- ``keyed``: the same with an ``Idempotency-Key``, sent again after an error or no
  answer, key and body unchanged, through the next node, until a definite answer.

At the end, :func:`check` compares what the clients were told with what the
simulated phones received (``sim_received``, in the database: every node's).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from clusterkit import query
from daemons import ADMIN, Node, ready, spawn, until

PHONE = "15550002222"
#: Webhooks to a receiver on loopback, retried soon; no limit of requests per key
#: (the readers' load is above 600 a minute; the send pace stays as it is).
NODE_ENV = {
    "WAD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "WAD_WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,200ms,400ms,800ms",
    "WAD_RATELIMIT_PER_MINUTE": "0",
}
#: A keyed send cut off is sent again for this long at most (a failover takes ~6 s).
KEYED_FOR = 60.0


async def start_cluster(folder: Path, pg_url: str, names: Iterable[str]) -> list[Node]:
    """Nodes (one ``secrets.key`` on all: the kit's) that deliver webhooks to loopback."""
    nodes = [spawn(folder / name, name, pg_url, env=NODE_ENV) for name in names]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(ready, node)
    return nodes


@dataclass
class Tally:
    accepted: dict[str, str] = field(default_factory=dict)  # message id -> text
    unanswered: list[str] = field(default_factory=list)  # texts with no answer
    answers: Counter[int] = field(default_factory=Counter)  # every HTTP status seen
    refused: list[str] = field(default_factory=list)  # non-2xx answers, as told
    retried: int = 0  # keyed sends sent again after an error or no answer
    reads: int = 0
    keyed_gave_up: list[str] = field(default_factory=list)

    def non_2xx(self) -> dict[int, int]:
        return {s: n for s, n in self.answers.items() if not 200 <= s < 300}


@dataclass
class Load:
    nodes: list[Node]
    #: The sessions to send to, with their API keys (the admin token cannot send).
    keys: dict[str, str]
    tally: Tally = field(default_factory=Tally)
    #: Nodes the clients no longer use (killed): their tasks move on to the next.
    gone: set[str] = field(default_factory=set)
    _count: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def devices(self) -> list[str]:
        return list(self.keys)

    def _auth(self, device: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[device]}"}

    def _node(self, index: int) -> Node:
        for step in range(len(self.nodes)):
            node = self.nodes[(index + step) % len(self.nodes)]
            if node.name not in self.gone:
                return node
        raise AssertionError("no node left")

    async def accepted(self, count: int, timeout: float = 30) -> None:
        """Until ``count`` sends in all were accepted (polled: the answers come from
        other processes)."""
        with trio.move_on_after(timeout):
            while len(self.tally.accepted) < count:
                await trio.sleep(0.05)
            return
        raise AssertionError(
            f"{len(self.tally.accepted)} of {count} sends accepted in {timeout} s;"
            f" answers {dict(self.tally.answers)}, {self.tally.refused[:5]}"
        )

    def _answer(self, r: httpx.Response) -> None:
        self.tally.answers[r.status_code] += 1
        if not 200 <= r.status_code < 300:
            self.tally.refused.append(f"{r.status_code} {r.request.url.path} {r.text[:200]}")

    async def sender(self, index: int, kind: str) -> None:
        """Sends through node ``index`` (the next one once it is gone) for ever."""
        async with httpx.AsyncClient(headers=ADMIN, timeout=60) as client:
            while True:
                n = next(self._count)
                device = self.devices[n % len(self.devices)]
                text = f"load {kind} {index}-{n}"
                if kind == "keyed":
                    await self._keyed(client, index, device, text)
                    continue
                node = self._node(index)
                if kind == "seed":
                    url = f"{node.url}/api/messages/send"
                    body: dict[str, Any] = {"deviceId": device, "number": PHONE, "message": text}
                else:
                    url = f"{node.url}/api/sessions/{device}/messages"
                    body = {"to": PHONE, "type": "text", "text": text}
                try:
                    r = await client.post(url, json=body, headers=self._auth(device))
                except httpx.TransportError:
                    self.tally.unanswered.append(text)
                    await trio.sleep(0.05)  # its node is gone: the next one
                    continue
                if _no_answer(r):
                    self.tally.answers[r.status_code] += 1
                    self.tally.unanswered.append(text)
                    continue
                self._answer(r)
                if r.status_code == 200:
                    self.tally.accepted[r.json()["id"]] = text

    async def _keyed(self, client: httpx.AsyncClient, index: int, device: str, text: str) -> None:
        headers = {"Idempotency-Key": f"key-{text}", **self._auth(device)}
        body = {"to": PHONE, "type": "text", "text": text}
        began = trio.current_time()
        step = 0
        while True:
            node = self._node(index + step)
            try:
                r = await client.post(
                    f"{node.url}/api/sessions/{device}/messages", headers=headers, json=body
                )
            except httpx.TransportError:
                r = None
            if r is not None:
                self._answer(r)
                if r.status_code == 200:
                    self.tally.accepted[r.json()["id"]] = text
                    return
                if r.status_code not in (409, 503):
                    return  # a definite refusal
            if trio.current_time() - began > KEYED_FOR:
                self.tally.keyed_gave_up.append(text)
                return
            self.tally.retried += 1
            step += 1
            await trio.sleep(0.1)

    async def reader(self, index: int) -> None:
        async with httpx.AsyncClient(headers=ADMIN, timeout=60) as client:
            for n in itertools.count():
                node = self._node(index + n)
                device = self.devices[n % len(self.devices)]
                path = f"/api/sessions/{device}" + ("/messages?limit=5" if n % 2 else "")
                try:
                    r = await client.get(node.url + path)
                except httpx.TransportError:
                    await trio.sleep(0.05)
                    continue
                self._answer(r)
                self.tally.reads += 1


async def api_keys(node: Node, devices: list[str]) -> dict[str, str]:
    """Each session's API key, made through ``node`` (any: it goes to the owner)."""
    keys = {}
    for device in devices:
        r = await node.client.put(f"/api/sessions/{device}/api-key", json={})
        assert r.status_code == 200, r.text
        keys[device] = r.json()["apiKey"]
    return keys


def _no_answer(r: httpx.Response) -> bool:
    """Another node's word that the owner died while answering (outcome unknown)."""
    return r.status_code == 503 and "did not answer" in r.text


@dataclass
class Check:
    lost: list[str]  # accepted, never received
    duplicated: list[str]  # a text received twice (under two message ids)
    not_sent: list[str]  # accepted, not "sent" in the store
    pending: int  # sends left pending in the store
    delivered_unanswered: int  # received although the client got no answer
    violations: list[tuple[Any, ...]]
    received: int

    def summary(self, tally: Tally) -> str:
        return (
            f"{len(tally.accepted)} accepted, {len(self.lost)} lost, {len(self.duplicated)}"
            f" duplicated, {len(tally.unanswered)} unanswered ({self.delivered_unanswered}"
            f" of them delivered), {self.pending} pending, keyed retries {tally.retried},"
            f" {tally.reads} reads, answers {dict(sorted(tally.answers.items()))},"
            f" {len(self.violations)} double connections"
        )


async def check(pg_url: str, tally: Tally) -> Check:
    rows = await query(pg_url, "SELECT message_id, item FROM sim_received")
    received = {r[0]: json.loads(r[1]) for r in rows}
    texts = Counter(str(item.get("text")) for item in received.values())
    status = dict(await query(pg_url, "SELECT id, status FROM messages WHERE direction = 'out'"))
    ours = set(tally.unanswered)
    return Check(
        lost=sorted(i for i in tally.accepted if i not in received),
        duplicated=sorted(t for t, n in texts.items() if n > 1),
        not_sent=sorted(i for i in tally.accepted if status.get(i) != "sent"),
        pending=sum(1 for s in status.values() if s == "pending"),
        delivered_unanswered=sum(1 for item in received.values() if item.get("text") in ours),
        violations=await query(pg_url, "SELECT * FROM sim_violations"),
        received=len(received),
    )


async def pending(pg_url: str) -> int:
    rows = await query(
        pg_url, "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'pending'"
    )
    return int(rows[0][0])


async def failover(nodes: list[Node], victim: Node, moved: Iterable[str]) -> float:
    """Seconds until every session in ``moved`` (the killed ``victim``'s) is connected
    on another node, as a survivor lists them."""
    survivor = next(n for n in nodes if n is not victim)
    moved = set(moved)

    async def elsewhere() -> bool:
        listed = await survivor.sessions()
        return all(
            listed[d]["node"] not in (None, victim.name)
            and listed[d]["connectionState"] == "connected"
            for d in moved
        )

    return await until(elsewhere, 20, f"{victim.name}'s sessions connected elsewhere", nodes)
