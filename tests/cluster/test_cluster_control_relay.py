"""wadctl on any node acts on any session of the cluster (wad.control.relay): two real
``wad serve`` processes on one PostgreSQL database, each with its real control
socket. A command for a session the other node runs is relayed to it over HTTP and
answered as that node's own socket answers: its results and its refusals. The
owner's route takes only orders from a node of the cluster, with the body the node
signed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from daemons import SECRET, link_all, owner_and_other, start_nodes, stop_nodes, until, wadctl

from wad.cluster import peers
from wad.control.relay import BODY_HEADER, PATH
from wad.ctl.main import EXIT_ERROR, EXIT_OK


async def test_wadctl_on_one_node_acts_on_the_other_s_session(tmp_path: Path, pg_url: str) -> None:
    nodes = await start_nodes(tmp_path, pg_url, ("a", "b"))
    try:
        await link_all(nodes, ["dev0"])
        owner, other = await owner_and_other(nodes, "dev0")

        # A message from a phone, told through the other node: the owner's phone sends it.
        done = await wadctl(other, "sim", "incoming", "dev0", "15550002222", "relayed hello")
        assert done.returncode == EXIT_OK, done.stderr

        async def received() -> bool:
            r = await owner.client.get("/api/sessions/dev0/messages")
            return any(m.get("body") == "relayed hello" for m in r.json()["messages"])

        await until(received, 10, "the relayed incoming message stored", nodes)

        # The owner's refusal comes back as it is: a connected session has no QR code.
        done = await wadctl(other, "--json", "call", "sessions.qr", '{"deviceId": "dev0"}')
        assert done.returncode != EXIT_OK
        assert "does not run on this node" not in done.stderr
        assert "conflict" in done.stderr or "QR" in done.stderr, done.stderr

        # A restart asked of the other node restarts it where it runs.
        history = "/api/sessions/dev0/events?types=session.status&limit=100"

        async def connects() -> int:
            events = (await owner.client.get(history)).json()["events"]
            return sum(e["payload"]["state"] == "connecting" for e in events)

        before = await connects()
        done = await wadctl(other, "restart", "dev0")
        assert done.returncode == EXIT_OK, done.stderr

        async def restarted() -> bool:
            state = (await owner.client.get("/api/sessions/dev0")).json()["session"]
            return await connects() == before + 1 and state["connectionState"] == "connected"

        await until(restarted, 15, "dev0 restarted and connected again", nodes)
        assert (await nodes[0].sessions())["dev0"]["node"] == owner.name

        # The route is the cluster's only: no header, a header with another body's
        # MAC, or a stale body MAC, each refused before anything runs.
        url = owner.url + PATH
        order = b'{"id": 1, "method": "sessions.delete", "params": {"deviceId": "dev0"}}\n'
        other_body = b'{"id": 1, "method": "sessions.get", "params": {"deviceId": "dev0"}}\n'
        now = time.time()
        header = {peers.HEADER: peers.sign(SECRET, "b", "POST", PATH, "x", "http", now)}
        async with httpx.AsyncClient() as client:
            for headers in (
                {},
                {**header, BODY_HEADER: peers.sign_body(SECRET, other_body, now)},
                {**header, BODY_HEADER: peers.sign_body(SECRET, order, now - 120)},
                {**header, BODY_HEADER: peers.sign_body("another-secret", order, now)},
            ):
                r = await client.post(url, content=order, headers=headers)
                assert r.status_code == 403, (headers, r.text)
            # Both proofs: the owner runs it (a harmless read here).
            signed = {**header, BODY_HEADER: peers.sign_body(SECRET, other_body, now)}
            r = await client.post(url, content=other_body, headers=signed)
            assert r.status_code == 200, r.text
            assert json.loads(r.content)["result"]["session"]["deviceId"] == "dev0"
        assert (await owner.client.get("/api/sessions/dev0")).status_code == 200

        # The owner killed: until the other node runs the session, the relay says
        # why it cannot (no answer, or no owner), in one line, exit code 1.
        owner.kill()
        done = await wadctl(other, "restart", "dev0")
        assert done.returncode == EXIT_ERROR, (done.stdout, done.stderr)
        assert "did not answer" in done.stderr or "runs on no node" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1

        async def taken_over() -> bool:
            return (await other.sessions())["dev0"]["node"] == other.name

        await until(taken_over, 15, "the other node runs dev0", [other])
        done = await wadctl(other, "restart", "dev0")
        assert done.returncode == EXIT_OK, done.stderr
        # No line per request relayed (httpx's own would name each URL).
        assert "HTTP Request" not in other.log.read_text()
    finally:
        await stop_nodes(nodes)
