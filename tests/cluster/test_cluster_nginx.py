"""nginx in front of a cluster (issue 20): a REAL nginx (Debian's package), run
unprivileged with a prefix and a configuration of its own in the test's folder,
from ``contrib/nginx/cluster.conf`` with its upstream (and its ports, certificate
and log) put in, in front of three real ``wad serve`` nodes on one PostgreSQL
database. Requests of every kind sent to nginx are answered as they should be
whichever node nginx picked (its access log names the node of every request, and
each kind is repeated until every node has answered it), and with one node killed
nginx goes on answering: the killed node is skipped, its sessions answer again
once the others run them.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trustme
from conftest import ADMIN_TOKEN, free_port
from daemons import Node, link_all, ready, spawn, stop_nodes, until

from wad.store import now_iso

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contrib" / "nginx" / "cluster.conf"
NAMES = ("a", "b", "c")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TO = "15550002222"
#: What nginx logs of each request (the example's log_format): its request line,
#: status and the node(s) it went to ("A, B" when A failed and B answered).
LOGGED = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d+) .* upstream=(?P<upstream>.*?) upstream_status='
)


def nginx_binary() -> str:
    # Debian puts it in /usr/sbin, which is not on an ordinary user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
    return found


@dataclass
class Proxy:
    url: str
    log: Path
    client: httpx.AsyncClient

    def logged(self) -> list[tuple[str, str, str]]:
        """(request line, status, upstream) of every finished request so far."""
        found = []
        for line in self.log.read_text().splitlines():
            m = LOGGED.search(line)
            assert m, line
            found.append((m["request"], m["status"], m["upstream"]))
        return found


def configure(folder: Path, upstreams: list[str], http: int, https: int) -> Path:
    """The example with this test's upstream, ports, certificate and log; the main
    configuration around it (what /etc/nginx/nginx.conf is to a site)."""
    site = EXAMPLE.read_text()
    lines = "".join(f"    server {u} max_fails=1 fail_timeout=5s;\n" for u in upstreams)
    site, count = re.subn(r"(    server 10\.0\.0\.\d+:3000 [^\n]*\n)+", lines, site)
    assert count == 1, "the example's upstream servers were not found"
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "/etc/letsencrypt/live/wad.example.org/fullchain.pem": str(folder / "cert.pem"),
        "/etc/letsencrypt/live/wad.example.org/privkey.pem": str(folder / "key.pem"),
        "/var/log/nginx/wad-cluster.access.log": str(folder / "access.log"),
    }
    for old, new in replacements.items():
        assert old in site, old
        site = site.replace(old, new)
    site = re.sub(r"\n *listen \[::\][^\n]*", "", site)  # loopback IPv4 only
    (folder / "cluster.conf").write_text(site)
    temp = folder / "temp"
    temp.mkdir()
    paths = " ".join(
        f"{kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} notice;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n    {paths}\n    include {folder / 'cluster.conf'};\n}}\n"
    )
    return main


@asynccontextmanager
async def nginx(nodes: list[Node]) -> AsyncIterator[Proxy]:
    binary = nginx_binary()
    # A folder of its own under /tmp, not under the test's (pytest keeps those
    # root-only: the unprivileged nginx could not reach into it).
    folder = Path(tempfile.mkdtemp(prefix="wad-nginx-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        authority = trustme.CA()
        cert = authority.issue_cert("wad.example.org", "127.0.0.1")
        cert.private_key_pem.write_to_path(str(folder / "key.pem"))
        (folder / "cert.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        https = free_port()
        upstreams = [n.url.removeprefix("http://") for n in nodes]
        main = configure(folder, upstreams, free_port(), https)
        as_user: list[str] = []
        if os.getuid() == 0:
            # Never as root: the nobody user, owning only this folder.
            nobody = pwd.getpwnam("nobody")
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
            as_user.append("--clear-groups")
        command = [*as_user, binary, "-p", str(folder), "-c", str(main)]
        command += ["-e", str(folder / "error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        context = ssl.create_default_context()
        authority.configure_trust(context)
        url = f"https://127.0.0.1:{https}"
        async with httpx.AsyncClient(
            base_url=url, verify=context, headers=ADMIN, timeout=30
        ) as client:
            for _ in range(200):
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, (folder / "error.log").read_text()
                    await trio.sleep(0.05)  # another process starting: nothing to wait on
            else:
                raise AssertionError("nginx did not answer within 10 s")
            yield Proxy(url, folder / "access.log", client)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


async def every_node(
    proxy: Proxy, nodes: list[Node], kind: str, attempt: Callable[[], Awaitable[None]]
) -> None:
    """``attempt`` (which asserts its answer) again and again, until nginx has given
    one to each node; each one's log line checked."""
    wanted = {n.url.removeprefix("http://") for n in nodes}
    served: set[str] = set()
    for _ in range(4 * len(nodes)):
        before = len(proxy.logged())
        await attempt()
        request, status, upstream = (await logged_after(proxy, before))[-1]
        assert status == "200" and upstream in wanted, (request, status, upstream)
        served.add(upstream)
        if served == wanted:
            return
    raise AssertionError(f"{kind}: nginx gave it only to {served}")


async def logged_after(proxy: Proxy, before: int) -> list[tuple[str, str, str]]:
    """The log lines after the first ``before``, once there is one: nginx writes a
    request's line as it finishes it, a stream's once it has seen it closed, which
    may be just after the client saw its end."""
    with trio.fail_after(5):
        while len(proxy.logged()) == before:
            await trio.sleep(0.02)  # another process's file
    return proxy.logged()[before:]


async def sse(
    proxy: Proxy,
    headers: dict[str, str],
    kind: str,
    count: int,
    opened: trio.Event | None = None,
) -> list[dict[str, Any]]:
    """An event stream through nginx: its first message (``opened`` is set then),
    then the first ``count`` messages of type ``kind`` (others, acknowledgements
    say, skipped)."""
    got: list[dict[str, Any]] = []
    with trio.fail_after(10):
        async with proxy.client.stream("GET", "/api/events", headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            message: dict[str, Any] = {}
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    message["id"] = line[4:]
                elif line.startswith("data: "):
                    message.update(json.loads(line[6:]))
                elif line == "" and message:
                    if not got or message["event"] == kind:
                        got.append(message)
                    if opened is not None:
                        opened.set()
                    message = {}
                    if len(got) == count + 1:
                        break
    return got


async def test_nginx_sends_any_request_to_any_node_and_skips_a_dead_one(
    tmp_path: Path, pg_url: str
) -> None:
    # nginx's address trusted for X-Forwarded-For; no pace between a session's
    # sends (about a second each by default), which only the pacing tests need.
    env = {"WAD_TRUSTED_PROXIES": "127.0.0.1", "WAD_SEND_INTERVAL": "0"}
    nodes = [spawn(tmp_path / name, name, pg_url, env=env) for name in NAMES]
    try:
        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(ready, node)
        devices = ["dev0", "dev1", "dev2"]
        await link_all(nodes, devices)
        listed = await nodes[0].sessions()
        assert {s["node"] for s in listed.values()} == set(NAMES)  # one on each node
        keys = {}
        for d in devices:
            r = await nodes[0].client.put(f"/api/sessions/{d}/api-key", json={})
            keys[d] = {"Authorization": f"Bearer {r.json()['apiKey']}"}
        answered: dict[str, list[str]] = {d: [] for d in devices}  # message ids, in order

        async with nginx(nodes) as proxy:
            http = proxy.client

            # A send, for each session, through whichever node.
            for d in devices:

                async def send(d: str = d) -> None:
                    r = await http.post(
                        f"/api/sessions/{d}/messages",
                        headers=keys[d],
                        json={"to": TO, "type": "text", "text": "hi"},
                    )
                    assert r.status_code == 200, r.text
                    answered[d].append(r.json()["id"])

                await every_node(proxy, nodes, f"send {d}", send)

            # A read, and the cluster-wide list: the same answer from every node.
            reference = (await nodes[1].client.get("/api/sessions/dev1")).json()

            async def read() -> None:
                r = await http.get("/api/sessions/dev1")
                assert r.status_code == 200 and r.json() == reference, r.text

            async def list_all() -> None:
                r = await http.get("/api/sessions")
                assert r.status_code == 200, r.text
                got = {s["deviceId"]: s for s in r.json()["sessions"]}
                assert got.keys() == set(devices)
                assert {s["connectionState"] for s in got.values()} == {"connected"}
                assert {d: s["node"] for d, s in got.items()} == {
                    d: s["node"] for d, s in listed.items()
                }

            await every_node(proxy, nodes, "read", read)
            await every_node(proxy, nodes, "list", list_all)

            # A multipart upload to dev2 streams through nginx and any node to its owner.
            payload = os.urandom(1_500_000)  # over nginx's default 1 MiB limit

            async def upload() -> None:
                r = await http.post(
                    "/api/sessions/dev2/messages",
                    headers=keys["dev2"],
                    data={"type": "document", "to": TO},
                    files={"file": ("data.bin", payload, "application/octet-stream")},
                )
                assert r.status_code == 200, r.text
                answered["dev2"].append(r.json()["id"])
                uploaded.add(r.json()["id"])

            uploaded: set[str] = set()
            await every_node(proxy, nodes, "upload", upload)

            # The event stream: it opens at once through nginx (nothing buffered), and
            # one resumed with Last-Event-ID (from the first message of the live
            # stream) replays the same sends from the shared database on any node.
            # Live streams are the cluster's (LISTEN/NOTIFY): the stream nginx gave to
            # one node tells the sends of the sessions every node runs.
            live: list[dict[str, Any]] = []
            logged = len(proxy.logged())
            async with trio.open_nursery() as nursery:
                subscribed = trio.Event()

                async def watch() -> None:
                    live.extend(await sse(proxy, {}, "message.sent", 3, subscribed))

                nursery.start_soon(watch)
                await subscribed.wait()
                for d in devices:
                    r = await http.post(
                        f"/api/sessions/{d}/messages",
                        headers=keys[d],
                        json={"to": TO, "type": "text", "text": "later"},
                    )
                    assert r.status_code == 200, r.text
                    answered[d].append(r.json()["id"])
            opened = live[0]
            assert opened["event"] == "stream.open" and not opened["resumed"]
            expected = {(d, answered[d][-1]) for d in devices}
            assert {(m["session"], m["payload"]["id"]) for m in live[1:]} == expected
            with trio.fail_after(5):  # the stream's own line, once nginx saw it closed
                while len(proxy.logged()) < logged + 1 + len(devices):
                    await trio.sleep(0.02)
            replays: list[set[tuple[str, str]]] = []

            async def replay() -> None:
                got = await sse(proxy, {"Last-Event-ID": opened["id"]}, "message.sent", 3)
                assert got[0]["event"] == "stream.open" and got[0]["resumed"], got[0]
                replays.append({(m["session"], m["payload"]["id"]) for m in got[1:]})

            await every_node(proxy, nodes, "event stream", replay)
            assert all(r == expected for r in replays), replays

            # One node killed: nginx skips it; the others' sessions answer at once,
            # and the killed node's once another node runs it.
            victim = next(n for n in nodes if n.name == listed["dev2"]["node"])
            survivors = [d for d in devices if d != "dev2"]
            before = now_iso()
            seen = len(proxy.logged())
            victim.kill()
            for _ in range(6):
                await list_all_after_kill(http, devices)
                for d in survivors:
                    r = await http.post(
                        f"/api/sessions/{d}/messages",
                        headers=keys[d],
                        json={"to": TO, "type": "text", "text": "on"},
                    )
                    assert r.status_code == 200, r.text
                    answered[d].append(r.json()["id"])
                    assert (await http.get(f"/api/sessions/{d}")).status_code == 200

            async def taken_over() -> bool:
                got = {
                    s["deviceId"]: s for s in (await http.get("/api/sessions")).json()["sessions"]
                }
                s = got["dev2"]
                return bool(
                    s["node"] != victim.name
                    and s["connectionState"] == "connected"
                    and str(s["updatedAt"]) > before  # connected again after the kill
                )

            await until(taken_over, 20, "dev2 connected on another node", nodes)
            last = len(proxy.logged())
            r = await http.post(
                "/api/sessions/dev2/messages",
                headers=keys["dev2"],
                json={"to": TO, "type": "text", "text": "back"},
            )
            assert r.status_code == 200, r.text
            answered["dev2"].append(r.json()["id"])
            await logged_after(proxy, last)
            after_kill = proxy.logged()[seen:]
            assert len(after_kill) >= 6 * (1 + 2 * len(survivors)) + 1
            # Every request after the kill was answered by a live node (one that
            # nginx tried on the dead one first shows both, the live one last).
            dead = victim.url.removeprefix("http://")
            assert all(status == "200" and not up.endswith(dead) for _, status, up in after_kill)

            # What the phones received: each answered send once, nothing else.
            for d in devices:
                sent = (await http.get(f"/api/simulator/sessions/{d}/sent")).json()["messages"]
                assert [m["id"] for m in sent] == answered[d], d
            media = {m["media"]["sha256"] for m in sent if m["id"] in uploaded}
            assert media == {hashlib.sha256(payload).hexdigest()}
    finally:
        await stop_nodes(nodes)


async def list_all_after_kill(http: httpx.AsyncClient, devices: list[str]) -> None:
    r = await http.get("/api/sessions")
    assert r.status_code == 200, r.text
    assert {s["deviceId"] for s in r.json()["sessions"]} == set(devices)
