"""Any node answers any request (issue 20): three real ``wad serve`` processes on one
PostgreSQL database. A request through node A for a session that node B runs is
forwarded to B, at the URL B registered, with the cluster's header, and B's answer
comes back as B gives it. A forged header is refused; a request forwarded once is
not forwarded again; the owner believes the client address a valid header names;
a session that runs nowhere answers 503 ``no_owner`` with ``Retry-After``. And the
operator's commands, through each process's real control socket: ``wadctl
cluster``, ``move``, ``drain``, ``undrain``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from daemons import SECRET, Node, link_all, start_nodes, stop_nodes, until, wadctl

from wad.cluster import peers
from wad.ctl.main import EXIT_ERROR, EXIT_OK

NAMES = ("a", "b", "c")
TEXT = {"to": "15550002222", "type": "text", "text": "hello"}


def signed(
    method: str, path: str, client: str = "127.0.0.1", secret: str = SECRET, age: float = 0
) -> dict[str, str]:
    value = peers.sign(secret, "c", method, path, client, "http", time.time() - age)
    return {peers.HEADER: value}


async def forwarded(node: Node) -> float:
    """What the node's /metrics says it forwarded."""
    text = (await node.client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('wad_cluster_forwarded_total{outcome="forwarded"}'):
            return float(line.split()[-1])
    raise AssertionError(f"no forwarding figures in {text}")


async def test_any_node_answers_as_the_owner_does(tmp_path: Path, pg_url: str) -> None:
    nodes = await start_nodes(tmp_path, pg_url, NAMES)
    try:
        devices = ["dev0", "dev1", "dev2"]
        await link_all(nodes, devices)
        listed = await nodes[0].sessions()
        by_name = {n.name: n for n in nodes}
        device = next(d for d in devices if listed[d]["node"] == "b")
        b = by_name["b"]
        a = by_name["a"]
        key = (await a.client.put(f"/api/sessions/{device}/api-key", json={})).json()["apiKey"]
        auth = {"Authorization": f"Bearer {key}"}
        path = f"/api/sessions/{device}/messages"

        # A read: the same answer through every node.
        answers = [await n.client.get(f"/api/sessions/{device}") for n in nodes]
        assert {r.status_code for r in answers} == {200}
        assert answers[0].json() == answers[1].json() == answers[2].json()

        # A send through A and through B: B's engine sends both, the answers alike.
        via_b = await b.client.post(path, headers=auth, json=TEXT)
        via_a = await a.client.post(path, headers=auth, json=TEXT)
        assert via_a.status_code == via_b.status_code == 200, via_a.text
        assert set(via_a.json()) == set(via_b.json())
        assert await forwarded(a) >= 1
        # A multipart upload streams on through C to B.
        payload = os.urandom(300_000)
        r = await by_name["c"].client.post(
            path,
            headers=auth,
            data={"type": "document", "to": "15550002222"},
            files={"file": ("data.bin", payload, "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        sent = (await a.client.get(f"/api/simulator/sessions/{device}/sent")).json()["messages"]
        assert [m["id"] for m in sent] == [via_b.json()["id"], via_a.json()["id"], r.json()["id"]]
        assert sent[-1]["media"]["sha256"] == hashlib.sha256(payload).hexdigest()

        # The owner's refusals come back as they are.
        refused = await a.client.post(path, json=TEXT, headers={"Authorization": "Bearer x"})
        direct = await b.client.post(path, json=TEXT, headers={"Authorization": "Bearer x"})
        assert refused.status_code == direct.status_code == 401
        assert refused.json() == direct.json()
        assert refused.headers["www-authenticate"] == direct.headers["www-authenticate"]
        # A session nobody has: the same 404 anywhere.
        assert (await a.client.get("/api/sessions/nothing")).status_code == 404

        # Forged headers are refused before anything is done, by every node.
        forged = signed("POST", path)[peers.HEADER][:-4] + "0000"
        for headers in (
            {peers.HEADER: forged},
            signed("POST", path, secret="not-the-cluster-secret"),
            signed("POST", "/api/sessions/other/messages"),
            signed("POST", path, age=120),
        ):
            for node in nodes:
                r = await node.client.post(path, headers={**auth, **headers}, json=TEXT)
                assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
                assert SECRET not in r.text
        count = len(
            (await b.client.get(f"/api/simulator/sessions/{device}/sent")).json()["messages"]
        )
        assert count == 3

        # Loop-proof: a request A got forwarded (validly) is A's to answer, even
        # though the database says B runs the session: A forwards nothing.
        before = await forwarded(a)
        r = await a.client.post(path, headers={**auth, **signed("POST", path)}, json=TEXT)
        assert r.status_code == 503 and r.json()["code"] == "no_owner", r.text
        assert r.headers["retry-after"]
        assert await forwarded(a) == before

        # The owner believes the client a valid header names: its lock-out keys on
        # that client, not on the node (nor the loopback) it came from.
        bad = {"Authorization": "Bearer wrong-token-0123456789"}
        for _ in range(12):
            await b.client.get(
                "/api/sessions", headers={**bad, **signed("GET", "/api/sessions", "203.0.113.9")}
            )
        locked = await b.client.get(
            "/api/sessions", headers={**bad, **signed("GET", "/api/sessions", "203.0.113.9")}
        )
        assert locked.status_code == 429
        assert (await b.client.get("/api/sessions", headers=bad)).status_code == 401
        for n in nodes:
            assert SECRET not in n.log.read_text()
    finally:
        await stop_nodes(nodes)


async def test_wadctl_cluster_move_drain_and_a_session_with_no_owner(
    tmp_path: Path, pg_url: str
) -> None:
    nodes = await start_nodes(tmp_path, pg_url, NAMES)
    try:
        a, b, c = nodes
        await link_all(nodes, ["dev0", "dev1", "dev2"])
        done = await wadctl(a, "--json", "cluster")
        assert done.returncode == EXIT_OK, done.stderr
        answer = json.loads(done.stdout)
        assert answer["node"] == "a"
        listed = {n["nodeId"]: n for n in answer["nodes"]}
        assert set(listed) == set(NAMES)
        assert listed["b"]["url"] == b.url and listed["b"]["live"]
        assert all(0 <= n["heartbeatAge"] < 5 for n in listed.values())
        table = (await wadctl(a, "cluster")).stdout
        assert "* a" in table and "HEARTBEAT" in table

        # A planned move asked of any node; the session keeps answering through A.
        # Placement need not have spread the three one a node: count, don't assume.
        device = next(d for d, s in (await a.sessions()).items() if s["node"] != "c")
        done = await wadctl(c, "move", device, "c")
        assert done.returncode == EXIT_OK, done.stderr

        async def moved() -> bool:
            listed = await a.sessions()
            if listed[device]["node"] != "c":
                return False
            # The row is claimed a moment before c counts the session as its own.
            on_c = sum(s["node"] == "c" for s in listed.values())
            metrics = (await c.client.get("/metrics")).text
            return f'wad_cluster{{figure="owned"}} {on_c}' in metrics

        await until(moved, 15, "c runs it and counts it", nodes)
        refused = await wadctl(a, "move", device, "nowhere")
        assert refused.returncode == EXIT_ERROR and "cannot move" in refused.stderr
        metrics = (await c.client.get("/metrics")).text
        assert 'wad_cluster_node{node="c"} 1' in metrics

        # Every node drained: nothing runs; a new session waits for a node.
        for node in nodes:
            done = await wadctl(node, "drain")
            assert done.returncode == EXIT_OK, done.stderr
        assert all(s["node"] is None for s in (await a.sessions()).values())
        r = await a.client.post("/api/sessions", json={"deviceId": "later"})
        assert r.status_code == 201, r.text
        began = time.monotonic()
        r = await b.client.post("/api/sessions/later/restart")
        assert r.status_code == 503 and r.json()["code"] == "no_owner", r.text
        assert int(r.headers["retry-after"]) >= 1
        assert time.monotonic() - began >= 4.5  # it waited for an owner first
        for node in nodes:
            done = await wadctl(node, "undrain")
            assert done.returncode == EXIT_OK, done.stderr

        async def placed() -> bool:
            return all(s["node"] is not None for s in (await a.sessions()).values())

        await until(placed, 15, "every session runs again", nodes)
    finally:
        await stop_nodes(nodes)


async def test_without_a_cluster_each_command_says_so(tmp_path: Path) -> None:
    from conftest import spawn_daemon

    daemon = spawn_daemon(tmp_path, "--engine", "simulator")
    try:
        node = Node("single", daemon.url, tmp_path, daemon.proc)
        for args in (["cluster"], ["move", "dev1", "b"], ["drain"], ["undrain"]):
            done = await wadctl(node, *args)
            assert done.returncode == EXIT_ERROR, (args, done.stdout, done.stderr)
            assert "not part of a cluster" in done.stderr and "Traceback" not in done.stderr
        assert "wad_cluster" not in (await node.client.get("/metrics")).text
        await node.client.aclose()
    finally:
        daemon.stop()
