"""What the benchmark and crash scripts share: a real ``wad serve`` process, pre-paired
simulator sessions, ``/proc`` readings, percentiles, and a description of the machine.

Nothing here reaches into the daemon: it is driven from the outside, as a user would.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from wad.engines.simulator.engine import CREDENTIALS

ADMIN_TOKEN = "bench-admin-" + secrets.token_hex(16)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WadProcess:
    """``wad serve`` in a process of its own, on a free loopback port."""

    state_dir: Path
    engine: str = "simulator"
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    #: A command the daemon runs under (``valgrind ...``), and options of its Python.
    wrapper: list[str] = field(default_factory=list)
    python_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    #: Its HTTP port; 0: a free one. Given when its URL must be known before it
    #: starts (a cluster node's WAD_NODE_URL).
    port: int = 0

    def start(self, timeout: float = 60.0) -> WadProcess:
        port = self.port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.state_dir.parent / "wad.log"
        env = {
            **os.environ,
            "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
            "WAD_LOG_LEVEL": "WARNING",
            # Benchmarks and crash runs send as fast as they can: no pace, no quota.
            "WAD_SEND_INTERVAL": "0",
            "WAD_NEW_CONTACT_DAILY_CAP": "0",
            "WAD_RATELIMIT_PER_MINUTE": "0",
            **self.env,
        }
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.wrapper,
                    sys.executable,
                    *self.python_args,
                    "-m",
                    "wad.cli",
                    "serve",
                    "--engine",
                    self.engine,
                    "--state-dir",
                    str(self.state_dir),
                    "--http",
                    f"127.0.0.1:{port}",
                    "--control-socket",
                    str(self.state_dir / "wad.sock"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wad exited with {self.proc.returncode}; see {log_path}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.02)  # the port of another process: nothing to wait on but time
        raise RuntimeError(f"wad did not answer within {timeout:g} s; see {log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power cut of the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def prepair(state_dir: Path, device_id: str, phone: str = "15550001111") -> None:
    """Give a simulator session credentials, so it connects without a QR scan."""
    folder = state_dir / "sessions" / device_id
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    device = {"phoneNumber": phone, "jid": f"{phone}:7@s.whatsapp.net"}
    path = folder / CREDENTIALS
    path.write_text(json.dumps(device))
    path.chmod(0o600)


def create_session(url: str, device_id: str) -> str:
    """Create a session and give it an API key; returns the key."""
    r = httpx.post(f"{url}/api/sessions", headers=ADMIN, json={"deviceId": device_id}, timeout=30)
    r.raise_for_status()
    r = httpx.put(f"{url}/api/sessions/{device_id}/api-key", headers=ADMIN, json={}, timeout=30)
    r.raise_for_status()
    return r.json()["apiKey"]


def wait_connected(url: str, device_ids: set[str], timeout: float = 60.0) -> float:
    """Poll the session list until all of ``device_ids`` are connected; returns when."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/api/sessions", headers=ADMIN, timeout=10)
            states = {s["deviceId"]: s["connectionState"] for s in r.json()["sessions"]}
            if all(states.get(d) == "connected" for d in device_ids):
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # another process's state: polled
    raise RuntimeError(f"sessions not connected within {timeout:g} s")


# -- /proc ---------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        path = task / "children"
        if path.exists():
            found += [int(p) for p in path.read_text().split()]
    return found


# -- figures -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores ({model}), "
        f"{mem / 1024:.0f} GiB RAM, Python {platform.python_version()}"
    )


def scrape(url: str) -> str:
    return httpx.get(url + "/metrics", headers=ADMIN, timeout=10).text


def metric(url: str, name: str, text: str | None = None, **labels: str) -> float | None:
    """One sample of the daemon's /metrics (admin token), from ``text`` when given."""
    text = scrape(url) if text is None else text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    line_start = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None
