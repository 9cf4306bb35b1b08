"""``wad serve`` that cannot start says why in one line and exits 1, without a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import ADMIN_TOKEN


def _serve(tmp_path: Path, http: str, sock: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wad.cli",
            "serve",
            "--engine",
            "simulator",
            "--state-dir",
            str(tmp_path / "state"),
            "--http",
            http,
            "--control-socket",
            str(sock),
        ],
        env={**os.environ, "WAD_ADMIN_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_http_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(tmp_path, f"127.0.0.1:{port}", tmp_path / "wad.sock")
    assert done.returncode == 1
    assert "cannot start: [Errno 98] Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "wad.sock").exists()  # what it bound, it removed


def test_control_path_not_a_socket(tmp_path: Path) -> None:
    (tmp_path / "wad.sock").write_text("not a socket")
    done = _serve(tmp_path, "127.0.0.1:0", tmp_path / "wad.sock")
    assert done.returncode == 1
    assert "exists and is not a socket" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "wad.sock").read_text() == "not a socket"
