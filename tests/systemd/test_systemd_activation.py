"""Socket activation: the daemon serves HTTP and the control socket on descriptors
it is given (``LISTEN_FDS``), instead of binding its own."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, free_port, serve_command
from control_client import control_call
from systemd_manager import FakeManager, reap

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under 108 bytes: pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="wad-sa-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def serve_args(state: Path, unused_port: int, unused_sock: Path) -> list[str]:
    # The configured addresses must stay unused: the passed sockets replace them. The
    # interpreter is the shim's argument of its own (it execs "$1").
    return serve_command(state, f"127.0.0.1:{unused_port}", unused_sock)[1:]


def check_served(url: str, control: Path, unused_port: int, unused_sock: Path) -> None:
    assert httpx.get(url + "/healthz", timeout=30).status_code == 200
    created = httpx.post(
        url + "/api/sessions", json={"deviceId": "activated"}, headers=ADMIN, timeout=10
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(url + "/api/sessions", headers=ADMIN, timeout=10).json()
    assert [s["deviceId"] for s in listed["sessions"]] == ["activated"]
    status = control_call(control, "status")
    assert "result" in status, status
    sessions = control_call(control, "sessions.list")["result"]["sessions"]
    assert [s["deviceId"] for s in sessions] == ["activated"]
    assert refused(unused_port)
    assert not unused_sock.exists()


def test_descriptors_passed_by_hand(short_dir: Path) -> None:
    """What systemd does, done by the test: sockets on descriptors 3 and 4, their
    count, names and the receiving pid in the environment."""
    http = socket.create_server(("127.0.0.1", 0))
    control = socket.socket(socket.AF_UNIX)
    control_path = short_dir / "control.sock"
    control.bind(str(control_path))
    control.listen()
    # Out of the way first, so moving them to 3 and 4 cannot overwrite each other.
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 50) for s in (http, control)]
    manager = FakeManager()
    unused_port, unused_sock = free_port(), short_dir / "unused.sock"
    env = {
        **os.environ,
        "WAD_ADMIN_TOKEN": ADMIN_TOKEN,
        "LISTEN_FDS": "2",
        "LISTEN_FDNAMES": "http:control",
        "NOTIFY_SOCKET": manager.address,
    }
    # bash sets LISTEN_PID to its own pid, which exec hands on to the daemon.
    shim = (
        f'LISTEN_PID=$$; export LISTEN_PID; exec "$@" 3<&{high[0]} 4<&{high[1]}'
        f" {high[0]}<&- {high[1]}<&-"
    )
    log = (short_dir / "wad.log").open("ab")
    proc = subprocess.Popen(
        [
            "bash",
            "-c",
            shim,
            "bash",
            sys.executable,
            *serve_args(short_dir / "state", unused_port, unused_sock),
        ],
        env=env,
        pass_fds=high,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for fd in high:
        os.close(fd)
    try:
        manager.wait_for("READY")
        url = f"http://127.0.0.1:{http.getsockname()[1]}"
        check_served(url, control_path, unused_port, unused_sock)
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        reap(proc)
        manager.close()
        log.close()
    text = (short_dir / "wad.log").read_text()
    assert "socket activation: http on 127.0.0.1" in text
    assert f"socket activation: control on {control_path}" in text
    # The socket belongs to whoever passed it (systemd): the daemon leaves it in place.
    assert control_path.exists()
    http.close()
    control.close()


def test_under_systemd_socket_activate(short_dir: Path) -> None:
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate is not installed")
    port, unused_port = free_port(), free_port()
    control_path, unused_sock = short_dir / "control.sock", short_dir / "unused.sock"
    log = (short_dir / "wad.log").open("ab")
    # It listens on both, and starts the daemon at the first connection.
    proc = subprocess.Popen(
        [
            tool,
            "-l",
            f"127.0.0.1:{port}",
            "-l",
            str(control_path),
            "--fdname=http:control",
            "-E",
            f"WAD_ADMIN_TOKEN={ADMIN_TOKEN}",
            "-E",
            "PYTHONPATH=" + os.pathsep.join(sys.path),
            sys.executable,
            *serve_args(short_dir / "state", unused_port, unused_sock),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not (control_path.exists() and not refused(port)):
            assert proc.poll() is None, (short_dir / "wad.log").read_text()
            assert time.monotonic() < deadline, "systemd-socket-activate did not listen"
            time.sleep(0.05)  # polling another process's sockets: no event to wait on
        check_served(f"http://127.0.0.1:{port}", control_path, unused_port, unused_sock)
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        reap(proc)
        log.close()
    text = (short_dir / "wad.log").read_text()
    assert "socket activation: http" in text and "socket activation: control" in text
