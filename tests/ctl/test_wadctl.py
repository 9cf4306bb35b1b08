"""wadctl end to end: real ``wad serve`` processes (simulator engine), wadctl as subprocesses."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
import qrcode
from conftest import ADMIN_TOKEN, Process, spawn_daemon

from wad.ctl.main import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_NOT_RUNNING, EXIT_REFUSED, EXIT_USAGE
from wad.ctl.render import QR_BORDER

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


def wadctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "wad.ctl.main", *args]


def wadctl(sock: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAD_CONTROL_SOCKET": str(sock)}
    done = subprocess.run(wadctl_argv(*args), env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, (args, done.returncode, done.stderr)
    return done


def background(sock: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WAD_CONTROL_SOCKET": str(sock)}
    return subprocess.Popen(
        wadctl_argv(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


class Lines:
    """Lines of a running wadctl's stdout, with a deadline per line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.buffer = b""

    def next(self, timeout: float = 20.0) -> str | None:
        """The next line, or None when nothing came within ``timeout``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def drawn_matrix(lines: list[str]) -> list[list[bool]]:
    """Read a half-block drawing back into QR modules (True = dark)."""
    rows: list[list[bool]] = []
    for line in lines:
        rows.append([c in " ▄" for c in line])
        rows.append([c in " ▀" for c in line])
    return rows


def expected_matrix(code: str) -> list[list[bool]]:
    qr = qrcode.QRCode(border=QR_BORDER, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(code)
    qr.make(fit=True)
    return qr.get_matrix()


@pytest.fixture
def daemon(tmp_path: Path):
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process, tmp_path / "wad.sock"
    process.stop()


def rest(process: Process, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(
        method, process.url + path, headers=kw.pop("headers", ADMIN), timeout=30, **kw
    )


def test_create_qr_scan_key_sessions_events_delete(daemon):
    process, sock = daemon
    assert wadctl(sock, "create", "cli1").stdout.strip() == "created"
    assert rest(process, "GET", "/api/sessions/cli1").json()["session"]["deviceId"] == "cli1"

    # qr follows the session: it draws the QR, then exits once the phone scans it.
    qr = background(sock, "qr", "cli1", "--blocks", "half")  # sextants: test_wadctl_qr_screen
    out = Lines(qr)
    while not (line := out.next() or "").startswith("Scan with WhatsApp"):
        assert line.startswith("waiting for a QR code"), line
    code = rest(process, "GET", "/api/sessions/cli1/qr").json()["qrCode"]
    expected = expected_matrix(code)
    drawing = [out.next() or "" for _ in range((len(expected) + 1) // 2)]
    assert all(line and set(line) <= set(" ▀▄█") for line in drawing), drawing
    assert drawn_matrix(drawing)[: len(expected)] == expected  # the session's QR, scannable

    assert wadctl(sock, "sim", "scan", "cli1", "15557770001").stdout.strip() == "scanned"
    assert out.next() == "cli1 connected as 15557770001"
    assert qr.wait(20) == 0
    assert (
        rest(process, "GET", "/api/sessions/cli1").json()["session"]["connectionState"]
        == "connected"
    )

    key = wadctl(sock, "key", "cli1").stdout.strip()
    assert key.startswith("wad_")
    sent = rest(
        process,
        "POST",
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "cli1", "number": "15550001234", "message": "from the cli test"},
    )
    assert sent.status_code == 200, sent.text

    table = wadctl(sock, "sessions").stdout.splitlines()
    assert table[0].split()[:3] == ["DEVICE", "ID", "STATE"]
    assert table[1].split()[:3] == ["cli1", "connected", "15557770001"]
    listed = json.loads(wadctl(sock, "--json", "sessions").stdout)["sessions"]
    assert listed == rest(process, "GET", "/api/sessions").json()["sessions"]

    # events follows the stream: a message from a phone shows up in it.
    events = background(sock, "events", "--session", "cli1")
    follow = Lines(events)
    got = None
    while got is None:
        # Until wadctl has subscribed the message would pass unseen: send again.
        wadctl(sock, "sim", "incoming", "cli1", "15550002222", "hello wadctl")
        got = follow.next(timeout=3)
    lines = [got, follow.next()]
    assert any(
        " cli1 " in line and " message " in line and "hello wadctl" in line for line in lines
    ), lines
    events.terminate()
    events.wait(10)

    assert wadctl(sock, "delete", "cli1").stdout.strip() == "deleted"
    assert rest(process, "GET", "/api/sessions/cli1").status_code == 404
    assert wadctl(sock, "sessions").stdout.strip() == "no sessions"


def test_pairing_code_webhooks_plugins_and_daemon_commands(daemon):
    process, sock = daemon
    wadctl(sock, "create", "cli2")
    # The simulator shows its first QR at once; wait for it (polling another process).
    while (
        json.loads(wadctl(sock, "--json", "show", "cli2").stdout)["session"]["connectionState"]
        != "waiting_qr"
    ):
        time.sleep(0.05)
    code = wadctl(sock, "pair-code", "cli2", "15557770002").stdout.strip()
    assert len(code.replace("-", "")) == 8
    wadctl(sock, "sim", "enter-code", "cli2", code)
    assert json.loads(wadctl(sock, "--json", "status").stdout)["sessions"]["connected"] == 1

    added = wadctl(
        sock,
        "--json",
        "webhook-add",
        "cli2",
        "http://93.184.215.14/hook",
        "--events",
        "message,message.ack",
    )
    hook = json.loads(added.stdout)["webhook"]
    assert hook["events"] == ["message", "message.ack"] and hook["secret"].startswith("whsec_")
    table = wadctl(sock, "webhooks", "cli2").stdout
    assert hook["id"] in table and hook["secret"] not in table
    assert [
        w["id"] for w in rest(process, "GET", "/api/sessions/cli2/webhooks").json()["webhooks"]
    ] == [hook["id"]]
    wadctl(sock, "webhook-rm", "cli2", hook["id"])
    assert wadctl(sock, "webhooks", "cli2").stdout.strip() == "no webhooks"

    plugins = wadctl(sock, "plugins").stdout
    assert plugins.splitlines()[0].split()[0] == "NAME" and "webhooks" in plugins
    assert wadctl(sock, "reload").stdout.strip() == "reloaded"
    assert wadctl(sock, "log-level", "debug").stdout.strip() == "log level DEBUG"
    status = wadctl(sock, "status").stdout
    assert "engine" in status and "simulator" in status and "connected: 1" in status

    # Scripts act on exit codes.
    assert wadctl(sock, "show", "nobody-here", check=False).returncode == EXIT_NOT_FOUND
    assert wadctl(sock, "create", "cli2", check=False).returncode == EXIT_ERROR
    assert wadctl(sock, "log-level", "LOUD", check=False).returncode == EXIT_USAGE
    assert wadctl(sock, "show", check=False).returncode == EXIT_USAGE  # argparse
    rotate = wadctl(sock, "rotate-admin-token", check=False)
    assert rotate.returncode == EXIT_ERROR and "WAD_ADMIN_TOKEN" in rotate.stderr
    assert "Traceback" not in rotate.stderr

    # qr on an unlinked session says what to do instead of waiting forever.
    wadctl(sock, "sim", "unlink", "cli2")
    while (
        json.loads(wadctl(sock, "--json", "show", "cli2").stdout)["session"]["connectionState"]
        != "logged_out"
    ):
        time.sleep(0.05)  # polling another process
    at_rest = wadctl(sock, "qr", "cli2", check=False)
    assert at_rest.returncode == EXIT_ERROR and "wadctl restart cli2" in at_rest.stderr


def test_no_daemon_one_line_and_its_exit_code(tmp_path):
    done = wadctl(tmp_path / "nothing.sock", "status", check=False)
    assert done.returncode == EXIT_NOT_RUNNING
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "not running" in done.stderr
    # A stale socket file with nobody behind it reads the same.
    import socket

    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()
    done = wadctl(tmp_path / "stale.sock", "sessions", check=False)
    assert done.returncode == EXIT_NOT_RUNNING and done.stderr.count("\n") == 1


def test_socket_path_rule_without_flags(tmp_path):
    """No --socket and no WAD_CONTROL_SOCKET: the daemon's rule (state dir, runtime dir)."""
    env = {k: v for k, v in os.environ.items() if k != "WAD_CONTROL_SOCKET"}
    for extra, where in (
        ({"WAD_STATE_DIR": str(tmp_path / "s")}, tmp_path / "s"),
        (
            {"WAD_STATE_DIR": str(tmp_path / "s"), "RUNTIME_DIRECTORY": str(tmp_path / "r")},
            tmp_path / "r",
        ),
        ({"STATE_DIRECTORY": str(tmp_path / "sd")}, tmp_path / "sd"),
    ):
        done = subprocess.run(
            wadctl_argv("status"), env={**env, **extra}, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == EXIT_NOT_RUNNING
        assert str(where / "wad.sock") in done.stderr


def _python_for(uid: int) -> list[str] | None:
    """An interpreter that ``uid`` can run with wad importable, or None."""
    site = sysconfig.get_paths()["purelib"]
    for python in (
        sys.executable,
        shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}"),
    ):
        if python is None:
            continue
        probe = subprocess.run(
            [
                "setpriv",
                "--reuid",
                str(uid),
                "--regid",
                str(uid),
                "--clear-groups",
                python,
                "-c",
                "import wad.ctl.main",
            ],
            env={"PYTHONPATH": f"{ROOT}:{site}"},
            capture_output=True,
        )
        if probe.returncode == 0:
            return [python]
    return None


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_another_user_gets_refused_with_its_exit_code(daemon):
    process, sock = daemon
    python = _python_for(65534)
    if python is None:
        pytest.skip("no Python interpreter that uid 65534 may run")
    site = sysconfig.get_paths()["purelib"]
    done = subprocess.run(
        [
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            *python,
            "-m",
            "wad.ctl.main",
            "--socket",
            str(sock),
            "status",
        ],
        env={"PYTHONPATH": f"{ROOT}:{site}", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "wadctl"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("wadctl ")
