"""The hardened unit's restrictions, exercised with the daemon running a real neonize
worker. PID 1 here is not systemd, so ``systemd-run -p ...`` cannot be used; the test
applies what it can by hand (tests/harden.py says how each maps to a unit option)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, free_port
from systemd_manager import FakeManager, reap

pytestmark = pytest.mark.slow
HARDEN = Path(__file__).resolve().parents[1] / "harden.py"
NOBODY = 65534
DIAL_ERROR = "failed to dial whatsapp web websocket"


def harden(*args: str, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HARDEN), *args], **kwargs)


@pytest.fixture
def jail() -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        pytest.skip("needs root, unshare and setpriv")
    probe = harden("--", "true", stderr=subprocess.PIPE)
    _, err = probe.communicate(timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"cannot apply the restrictions here: {err.decode().strip()}")
    path = Path(tempfile.mkdtemp(prefix="wad-h-", dir="/tmp"))
    for sub in ("state", "run"):
        (path / sub).mkdir()
        os.chown(path / sub, NOBODY, NOBODY)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_write_execute_memory_is_refused_in_the_jail(jail: Path) -> None:
    """The check below can fail: MDWE is really in force for the whole process tree."""
    code = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)"
    done = subprocess.run(
        [sys.executable, str(HARDEN), "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "PermissionError" in done.stderr


def processes(marker: bytes) -> dict[int, bytes]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                found[int(entry.name)] = cmdline
    return found


def workers_of(daemon_pid: int) -> list[int]:
    """The neonize workers the daemon ``daemon_pid`` started (still alive)."""
    found = []
    for pid in processes(b"wad.worker\0--fd"):
        try:
            if status_fields(pid)["PPid"] == str(daemon_pid):
                found.append(pid)
        except OSError:
            continue
    return found


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def check_restricted(pid: int, worker: bool) -> bool:
    """Assert the restrictions on a live process; False when it is already gone."""
    try:
        fields = status_fields(pid)
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return False
    assert fields["NoNewPrivs"] == "1"
    assert fields["Uid"].split()[0] == str(NOBODY)
    assert int(fields["CapBnd"], 16) == 0 and int(fields["CapEff"], 16) == 0
    assert fields["Umask"] == "0077"
    root = next(m for m in mounts if m.split()[4] == "/")
    assert "ro" in root.split()[5].split(",")
    assert any(m.split()[4] == "/proc" and "subset=pid" in m for m in mounts)
    if worker:  # systemd's variables are for the daemon only
        assert b"NOTIFY_SOCKET=" not in environ and b"WATCHDOG_USEC=" not in environ
    return True


def test_neonize_worker_under_the_unit_restrictions(jail: Path) -> None:
    port = free_port()
    manager = FakeManager()
    state, run = jail / "state", jail / "run"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": manager.address,
        "WATCHDOG_USEC": "1000000",
        "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAD_BACKOFF_INITIAL": "0.5",
        "WAD_BACKOFF_CAP": "1",
    }
    log = (jail / "wad.log").open("ab")
    proc = harden(
        "--writable",
        str(state),
        "--writable",
        str(run),
        "--",
        sys.executable,
        "-m",
        "wad.cli",
        "serve",
        "--state-dir",
        str(state),
        "--http",
        f"127.0.0.1:{port}",
        "--control-socket",
        str(run / "wad.sock"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        manager.wait_for("READY", timeout=60)
        with httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as http:
            assert http.post("/api/sessions", json={"deviceId": "jailed"}).status_code == 201
            # Polling the daemon, another process, for what its worker reported; each
            # worker is looked at while it lives (each dial fails, and retries).
            daemons = processes(b"wad.cli\0serve\0--state-dir\0" + str(state).encode())
            (daemon_pid,) = [p for p in daemons if status_fields(p)["Uid"].split()[0] == "65534"]
            deadline, session, checked = time.monotonic() + 60, {}, 0
            while time.monotonic() < deadline:
                # This daemon's workers only: other suites on the machine run workers too.
                checked += sum(check_restricted(pid, worker=True) for pid in workers_of(daemon_pid))
                session = http.get("/api/sessions/jailed").json()["session"]
                if checked and DIAL_ERROR in str(session.get("lastError")):
                    break
                time.sleep(0.05)
            assert DIAL_ERROR in str(session.get("lastError")), session
            assert checked, "no worker process seen"
            assert http.get("/healthz").status_code == 200

        assert check_restricted(daemon_pid, worker=False)
        db = state / "sessions" / "jailed" / "whatsmeow.db"
        assert db.stat().st_mode & 0o077 == 0 and db.stat().st_uid == NOBODY
        # Still healthy: the watchdog goes on (its probe writes in the state folder).
        assert manager.wait_for("WATCHDOG", timeout=10)
        os.kill(daemon_pid, signal.SIGTERM)
        manager.wait_for("STOPPING")
        assert proc.wait(60) == 0
    finally:
        reap(proc)
        manager.close()
        log.close()
    text = (jail / "wad.log").read_text()
    assert "Traceback" not in text and "fatal error" not in text
