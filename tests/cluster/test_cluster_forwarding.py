"""Any node answers any request: real daemons on loopback, the owners and nodes on a
real PostgreSQL server. A request through node A for a session that node B runs is
forwarded to B (at the URL B registered) with the cluster's header, and B's answer
comes back as B gives it; B refuses a forged header, and never forwards a forwarded
request again.

Each daemon here keeps its own SQLite store (the cluster's shared store is wired
elsewhere); the rows that say who runs what are written by the test, as the nodes'
``ClusterNode`` would, with a heartbeat far in the future so that no lease runs out.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import psycopg
import trio
from conftest import Running, make_config, start_daemon

from wad.cluster import peers
from wad.cluster.schema import ensure_schema
from wad.engines.simulator.engine import SimulatorEngine

SECRET = "cluster-secret-for-the-tests-0123456789"


def execute(url: str, sql: str, params: object = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)  # type: ignore[arg-type]


def prepare(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        ensure_schema(conn)


def register(pg_url: str, node: str, url: str, *, live: bool = True) -> None:
    execute(
        pg_url,
        "INSERT INTO nodes (node_id, url, incarnation, seen_at)"
        " VALUES (%s, %s, 'test', now() + make_interval(hours => %s))",
        (node, url, 1 if live else -1),
    )


def own(pg_url: str, device: str, node: str | None) -> None:
    execute(pg_url, "INSERT INTO owners (device_id, node_id) VALUES (%s, %s)", (device, node))


async def start_node(nursery: trio.Nursery, tmp_path: Path, pg_url: str, node: str) -> Running:
    folder = tmp_path / node
    folder.mkdir()
    config = make_config(folder, database_url=pg_url, node_id=node, cluster_secret=SECRET)
    return await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))


def phone_log(wad: Running, device_id: str = "dev1") -> list[dict]:
    return wad.engine.sent(wad.daemon.supervisor.folder(device_id))


def signed(
    method: str, path: str, node: str = "c", client: str = "127.0.0.1", secret: str = SECRET
) -> dict[str, str]:
    return {peers.HEADER: peers.sign(secret, node, method, path, client, "http", time.time())}


async def test_a_request_through_any_node_is_answered_by_the_owner(
    tmp_path: Path, pg_url: str, nursery: trio.Nursery
) -> None:
    await trio.to_thread.run_sync(prepare, pg_url)
    a = await start_node(nursery, tmp_path, pg_url, "a")
    b = await start_node(nursery, tmp_path, pg_url, "b")
    register(pg_url, "a", a.url)
    register(pg_url, "b", b.url)
    key = await b.connected_key("dev1")
    own(pg_url, "dev1", "b")
    auth = {"Authorization": f"Bearer {key}"}
    assert a.daemon.supervisor.get("dev1") is None  # A has never heard of it

    # A read: the same answer, byte for byte, through either node.
    direct = await b.client.get("/api/sessions/dev1", headers=b.admin)
    through = await a.client.get("/api/sessions/dev1", headers=a.admin)
    assert through.status_code == direct.status_code == 200
    assert through.json() == direct.json()
    assert through.headers["content-type"] == direct.headers["content-type"]

    # A send: B's engine sends both, the answers alike.
    body = {"to": "15550002222", "type": "text", "text": "hello"}
    via_b = await b.client.post("/api/sessions/dev1/messages", headers=auth, json=body)
    via_a = await a.client.post("/api/sessions/dev1/messages", headers=auth, json=body)
    assert via_a.status_code == via_b.status_code == 200, via_a.text
    assert set(via_a.json()) == set(via_b.json())
    assert [m["id"] for m in phone_log(b)] == [via_b.json()["id"], via_a.json()["id"]]

    # A multipart upload streams on through A to B.
    payload = os.urandom(300_000)
    r = await a.client.post(
        "/api/sessions/dev1/messages",
        headers=auth,
        data={"type": "document", "to": "15550002222"},
        files={"file": ("data.bin", payload, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    assert phone_log(b)[-1]["media"]["sha256"] == hashlib.sha256(payload).hexdigest()

    # The owner's errors come back as they are (its key check, its 404 of a message).
    refused = await a.client.post("/api/sessions/dev1/messages", json=body)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    assert (
        refused.headers["www-authenticate"]
        == (await b.client.post("/api/sessions/dev1/messages", json=body)).headers[
            "www-authenticate"
        ]
    )

    # A session nobody has is A's own 404; one with no live owner, a 503 to retry.
    missing = await a.client.get("/api/sessions/nothing", headers=a.admin)
    assert missing.status_code == 404
    register(pg_url, "gone", "http://127.0.0.1:9", live=False)
    own(pg_url, "orphan", "gone")
    began = time.monotonic()
    waiting = await a.client.get("/api/sessions/orphan", headers=a.admin)
    assert waiting.status_code == 503 and waiting.json()["code"] == "no_owner"
    assert waiting.headers["retry-after"]
    assert time.monotonic() - began >= 4  # it waited for an owner first

    metrics = (await a.client.get("/metrics", headers=a.admin)).text
    assert 'wad_cluster_forwarded_total{outcome="forwarded"}' in metrics


async def test_a_forged_header_is_refused_and_a_forwarded_request_not_forwarded(
    tmp_path: Path, pg_url: str, nursery: trio.Nursery
) -> None:
    await trio.to_thread.run_sync(prepare, pg_url)
    a = await start_node(nursery, tmp_path, pg_url, "a")
    b = await start_node(nursery, tmp_path, pg_url, "b")
    register(pg_url, "a", a.url)
    register(pg_url, "b", b.url)
    key = await b.connected_key("dev1")
    own(pg_url, "dev1", "b")
    body = {"to": "15550002222", "type": "text", "text": "hello"}
    auth = {"Authorization": f"Bearer {key}"}
    path = "/api/sessions/dev1/messages"

    forged = {**auth, peers.HEADER: signed("POST", path)[peers.HEADER][:-4] + "0000"}
    other_secret = {**auth, **signed("POST", path, secret="not-the-cluster-secret")}
    other_path = {**auth, **signed("POST", "/api/sessions/dev2/messages")}
    expired = {
        **auth,
        peers.HEADER: peers.sign(SECRET, "c", "POST", path, "127.0.0.1", "http", time.time() - 120),
    }
    for headers in (forged, other_secret, other_path, expired):
        for node in (a, b):
            r = await node.client.post(path, headers=headers, json=body)
            assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
            assert SECRET not in r.text
    assert phone_log(b) == []
    # A valid one is B's to answer.
    ok = await b.client.post(path, headers={**auth, **signed("POST", path)}, json=body)
    assert ok.status_code == 200, ok.text

    # Loop-proof: B is told (forwarded, validly) of a session that A runs by the
    # database; B answers itself and forwards nothing. Asked by a client, B forwards.
    own(pg_url, "ghost", "a")
    ghost = "/api/sessions/ghost"
    assert await forwarded(b) == 0
    r = await b.client.get(ghost, headers={**b.admin, **signed("GET", ghost)})
    assert r.status_code == 404, r.text  # B's own answer: not a session of its store
    assert await forwarded(b) == 0
    plain = await b.client.get(ghost, headers=b.admin)
    assert plain.status_code == 404, plain.text  # A's answer, relayed
    assert await forwarded(b) == 1


async def forwarded(node: Running) -> float:
    """What the node's /metrics says it forwarded."""
    text = (await node.client.get("/metrics", headers=node.admin)).text
    for line in text.splitlines():
        if line.startswith('wad_cluster_forwarded_total{outcome="forwarded"}'):
            return float(line.split()[-1])
    raise AssertionError(f"no forwarding figures in {text}")


async def test_the_owner_believes_the_forwarded_client_address(
    tmp_path: Path, pg_url: str, nursery: trio.Nursery
) -> None:
    """Lock-outs key on the client a valid header names, not on the forwarding node."""
    await trio.to_thread.run_sync(prepare, pg_url)
    b = await start_node(nursery, tmp_path, pg_url, "b")
    path = "/api/sessions"
    bad = {"Authorization": "Bearer wrong-token-0123456789"}
    for _ in range(12):
        await b.client.get(path, headers={**bad, **signed("GET", path, client="203.0.113.9")})
    locked = await b.client.get(path, headers={**bad, **signed("GET", path, client="203.0.113.9")})
    assert locked.status_code == 429
    # The loopback itself (the forwarding node's address) is not locked out.
    mine = await b.client.get(path, headers=bad)
    assert mine.status_code == 401
