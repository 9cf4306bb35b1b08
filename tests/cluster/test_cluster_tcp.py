"""Over TCP the lock connection gets keepalives and a user timeout on both ends: a
throwaway server of its own that listens on loopback."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest
from pgserver import PgServer, start_server

from wad.cluster.connection import connect


@pytest.fixture
def tcp_url() -> Iterator[str]:
    server: PgServer = start_server()
    try:
        server.stop()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server.run(
            "pg_ctl",
            "-D",
            str(server.folder / "data"),
            "-l",
            str(server.folder / "server.log"),
            "-w",
            "-o",
            f"-k {server.socket_dir} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off",
            "start",
        )
        yield f"postgresql://wad@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(server.folder, ignore_errors=True)


def test_a_tcp_lock_connection_has_keepalives_on_both_ends(tcp_url: str) -> None:
    conn = connect(tcp_url, 5.0, "wad-cluster probe")
    try:
        assert conn.info.host == "127.0.0.1"
        # The server's end: it drops a vanished node's backend (and its locks) after
        # about 1 + 2 x 1 s of silence, inside the 5 s lease.
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
        assert shown == {
            "tcp_keepalives_idle": "1",
            "tcp_keepalives_interval": "1",
            "tcp_keepalives_count": "2",
            "tcp_user_timeout": "2500",  # milliseconds, shown without a unit
        }
        # The client's end: libpq's options, as the connection was made.
        dsn = conn.info.dsn
        assert "keepalives=1" in dsn and "tcp_user_timeout=2500" in dsn, dsn
        # The kernel's view of the client socket: keepalives on.
        sock = socket.socket(fileno=conn.pgconn.socket)
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 1
        finally:
            sock.detach()  # the descriptor is libpq's
    finally:
        conn.close()
