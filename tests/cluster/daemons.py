"""Three (or more) real ``wad serve`` processes on loopback forming one cluster on a
test's PostgreSQL database: the simulator engine, each node its own state folder
(as if on its own machine), ``WAD_DATABASE_URL``, ``WAD_NODE_ID``, ``WAD_NODE_URL``
and ``WAD_CLUSTER_SECRET``.

What is waited for is decided by other processes on the database (a placement, a
lease running out on the server's clock), so the kit polls the cluster-wide session
list; each poll is one GET.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from conftest import ADMIN_TOKEN, free_port, serve_command

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "cluster-secret-for-the-tests-0123456789"
#: The cluster's secrets.key (32 bytes, base64), the same on every node.
KEY = base64.b64encode(b"the tests' cluster secrets key!!").decode() + "\n"


@dataclass
class Node:
    name: str
    url: str
    folder: Path
    proc: subprocess.Popen[bytes]
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.url, headers=ADMIN, timeout=30)

    @property
    def log(self) -> Path:
        return self.folder / "wad.log"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> None:
        self.proc.terminate()

    async def sessions(self) -> dict[str, dict[str, Any]]:
        """The cluster-wide session list as this node answers it, by device id."""
        r = await self.client.get("/api/sessions")
        r.raise_for_status()
        return {s["deviceId"]: s for s in r.json()["sessions"]}


async def wadctl(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    """``wadctl ARGS`` through the node's control socket, in a thread."""
    sock = node.folder / "wad.sock"
    return await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "wad.ctl.main", "--socket", str(sock), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    )


def spawn(
    folder: Path,
    name: str,
    database_url: str,
    *args: str,
    env: dict[str, str] | None = None,
    key: str | None = KEY,
) -> Node:
    """A node in ``folder`` (its state folder inside), with the cluster's ``key`` as its
    secrets.key (None: its own, made at its start)."""
    folder.mkdir(parents=True, exist_ok=True)
    if key is not None:  # one secrets.key on every node, as the README asks
        (folder / "state").mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder / "state" / "secrets.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, key.encode())
        os.close(fd)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAD_NEW_CONTACT_DAILY_CAP": "0",
        "WAD_DATABASE_URL": database_url,
        "WAD_NODE_ID": name,
        "WAD_NODE_URL": url,
        "WAD_CLUSTER_SECRET": SECRET,
        **(env or {}),
    }
    command = serve_command(folder / "state", f"127.0.0.1:{port}", folder / "wad.sock", *args)
    with (folder / "wad.log").open("ab") as log:
        proc = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    return Node(name, url, folder, proc)


async def ready(node: Node, timeout: float = 60) -> None:
    """Until the node answers /healthz (it listens once its cluster part is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not node.alive:
            raise RuntimeError(f"node {node.name} exited: {node.log.read_text()}")
        try:
            if (await node.client.get("/healthz", timeout=1)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await trio.sleep(0.1)
    raise RuntimeError(f"node {node.name} did not answer: {node.log.read_text()}")


async def start_nodes(
    folder: Path, database_url: str, names: Iterable[str], env: dict[str, str] | None = None
) -> list[Node]:
    nodes = [spawn(folder / name, name, database_url, env=env) for name in names]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(ready, node)
    return nodes


async def stop_nodes(nodes: Iterable[Node]) -> None:
    for node in nodes:
        if node.alive:
            node.terminate()
    for node in nodes:
        try:
            await trio.to_thread.run_sync(node.proc.wait, 15)
        except subprocess.TimeoutExpired:
            node.kill()
        await node.client.aclose()


async def until(condition: Any, timeout: float, what: str, nodes: Iterable[Node] = ()) -> float:
    """Poll the async ``condition`` until it holds; the seconds it took."""
    began = time.monotonic()
    while True:
        if await condition():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            logs = "\n".join(f"--- {n.name}\n{n.log.read_text()[-3000:]}" for n in nodes)
            raise AssertionError(f"not within {timeout} s: {what}\n{logs}")
        await trio.sleep(0.1)


async def link_all(nodes: list[Node], devices: list[str]) -> None:
    """Create the sessions round-robin through the nodes, then scan each one's QR code
    on the node that runs it (the simulator's phone is that node's)."""
    by_name = {n.name: n for n in nodes}
    for i, device in enumerate(devices):
        r = await nodes[i % len(nodes)].client.post("/api/sessions", json={"deviceId": device})
        assert r.status_code == 201, r.text

    async def waiting() -> bool:
        listed = await nodes[0].sessions()
        return all(listed.get(d, {}).get("connectionState") == "waiting_qr" for d in devices)

    await until(waiting, 30, "every session waiting for its QR scan", nodes)
    listed = await nodes[0].sessions()
    for i, device in enumerate(devices):
        owner = by_name[listed[device]["node"]]
        r = await owner.client.post(
            f"/api/simulator/sessions/{device}/scan", json={"phoneNumber": f"1555000{i:04d}"}
        )
        assert r.status_code == 200, r.text

    async def connected() -> bool:
        listed = await nodes[0].sessions()
        return all(listed[d]["connectionState"] == "connected" for d in devices)

    await until(connected, 30, "every session connected", nodes)


async def owner_and_other(nodes: list[Node], device: str) -> tuple[Node, Node]:
    """Of two nodes: the one that runs ``device`` (by the cluster's list), the other."""
    name = (await nodes[0].sessions())[device]["node"]
    owner = next(n for n in nodes if n.name == name)
    return owner, next(n for n in nodes if n is not owner)


def spread(listed: dict[str, dict[str, object]]) -> Counter[object]:
    return Counter(s["node"] for s in listed.values())
