"""Shared fixtures: a real daemon (store, sessions, hypercorn on loopback) in the test's loop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from wad.config import load
from wad.engines.simulator.engine import SimulatorEngine
from wad.runtime import serve as wad_daemon

# The throwaway PostgreSQL server's fixtures (pg_server, pg_url); the store on each
# backend (store: the store contract's, tests/store).
pytest_plugins = ["pgserver", "store_backends"]

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@dataclass
class Running:
    daemon: wad_daemon.Daemon
    url: str
    client: httpx.AsyncClient

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @property
    def engine(self) -> SimulatorEngine:
        return self.daemon.supervisor.engine  # type: ignore[return-value]

    async def wait_state(self, device_id: str, state: str) -> None:
        await wait_state(self.daemon.events, self.daemon.supervisor, device_id, state)

    async def close(self) -> None:
        """Close the test's HTTP client and stop the daemon (its nursery then ends)."""
        await self.client.aclose()
        self.daemon.stop()

    async def connected_key(self, device_id: str = "dev1", phone: str = "15550001111") -> str:
        """Create a session, scan its QR with the virtual phone, and give it an API key
        (returned)."""
        await self.client.post("/api/sessions", json={"deviceId": device_id}, headers=self.admin)
        await self.wait_state(device_id, "waiting_qr")
        self.engine.link(device_id).scan(phone)
        await self.wait_state(device_id, "connected")
        r = await self.client.put(f"/api/sessions/{device_id}/api-key", json={}, headers=self.admin)
        return r.json()["apiKey"]


async def wait_state(events, supervisor, device_id: str, state: str) -> None:
    """Wait until a session reaches ``state``, following its events (no polling)."""
    with events.subscribe() as stream:
        session = supervisor.get(device_id)
        if session is not None and session.state == state:
            return
        async for event in stream:
            if (
                event.device_id == device_id
                and event.type == "session.status"
                and event.payload["state"] == state
            ):
                return


def make_config(tmp_path: Path, **overrides: object):
    flags: dict[str, object] = {
        "state_dir": str(tmp_path / "state"),
        "http": "127.0.0.1:0",
        "engine": "simulator",
        "control_socket": str(tmp_path / "wad.sock"),
        # Tests send to made-up numbers in bursts: no new-contact cap unless asked for.
        "new_contact_daily_cap": 0,
    }
    flags.update({k: v for k, v in overrides.items()})
    env = {"WAD_ADMIN_TOKEN": ADMIN_TOKEN, "HOME": str(tmp_path)}
    config = load(flags, env=env)
    # Tests send in bursts: no send pace unless a test asks for one.
    config.plugin_settings = {"ratelimit": {"send_interval": 0, "per_minute": 100_000}}
    return config


async def start_daemon(nursery: trio.Nursery, config, engine=None) -> Running:
    daemon = await nursery.start(wad_daemon.serve, config, engine)
    url = daemon.services.status.http_bound[0]
    client = httpx.AsyncClient(base_url=url, timeout=30)
    return Running(daemon, url, client)


@pytest.fixture
async def wad(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    """A daemon with the simulator engine, serving HTTP on a free loopback port."""
    running = await start_daemon(nursery, make_config(tmp_path), SimulatorEngine(qr_interval=20.0))
    yield running
    await running.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve_command(
    state_dir: Path,
    http: str,
    control_socket: Path | None,
    *args: str,
    engine: str | None = "simulator",
) -> list[str]:
    """The ``wad serve`` command line of a test's daemon process (``python -m wad.cli``):
    its state folder, HTTP address, control socket (None: wad's default), engine (None:
    the caller's ``args`` name it, or wad's default)."""
    socket_flag = ["--control-socket", str(control_socket)] if control_socket else []
    engine_flag = ["--engine", engine] if engine else []
    return [
        sys.executable,
        "-m",
        "wad.cli",
        "serve",
        *engine_flag,
        "--state-dir",
        str(state_dir),
        "--http",
        http,
        *socket_flag,
        *args,
    ]


def spawn_daemon(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    state_dir: Path | None = None,
    control_socket: bool = True,
) -> Process:
    """``wad serve`` as a real process; returns once /healthz answers. Its control socket
    is ``tmp_path/wad.sock`` unless ``control_socket`` is false (then wad's default)."""
    port = free_port()
    state_dir = state_dir or tmp_path / "state"
    log = tmp_path / f"wad-{port}.log"
    full_env = {
        **os.environ,
        "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAD_NEW_CONTACT_DAILY_CAP": "0",  # as make_config: no cap unless asked for
        **(env or {}),
    }
    sock = tmp_path / "wad.sock" if control_socket else None
    proc = subprocess.Popen(
        serve_command(state_dir, f"127.0.0.1:{port}", sock, *args, engine=None),
        env=full_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited: {log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Process(proc, url, state_dir, log)
        except httpx.TransportError:
            time.sleep(0.05)  # polling a port another process opens: no event to wait on
    proc.kill()
    raise RuntimeError(f"daemon did not answer: {log.read_text()}")


def follow_state(api: httpx.Client, device_id: str, state: str) -> None:
    """Wait until a session of a daemon process is in ``state``, following its live
    event stream (no polling); ``api`` carries the admin token."""
    with api.stream("GET", f"/api/events?session={device_id}") as stream:
        if api.get(f"/api/sessions/{device_id}").json()["session"]["connectionState"] == state:
            return
        for line in stream.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event.get("event") == "session.status" and event["payload"]["state"] == state:
                    return


@pytest.fixture
def wad_process(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium for the browser tests (``dashboard_browser.launch``)."""
    from dashboard_browser import launch

    with launch() as chromium:
        yield chromium
