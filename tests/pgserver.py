"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries,
``initdb`` in a temporary folder, reached over a Unix socket only (no TCP port, no
system service). As root, the server runs as the ``postgres`` user (PostgreSQL
refuses root), through util-linux's ``setpriv``.

One server per test session (``pg_server``); each test that wants a database gets a
fresh one on it (``pg_url``), dropped afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

USER = "wad"


def _bin_dir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    return Path(found).resolve().parent


@dataclass
class PgServer:
    folder: Path
    bin: Path
    as_user: list[str]
    #: fsync and synchronous commits on, as on a real server (the benchmarks);
    #: the tests' data need not survive a power cut.
    durable: bool = False

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}@/{dbname}?host={quote(self.socket_dir, safe='')}"

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.as_user, str(self.bin / args[0]), *args[1:]],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = self.run(
            "psql", "-X", "-q", "-At", "-h", self.socket_dir, "-U", USER, "-d", dbname, "-c", sql
        )
        return out.stdout.decode()

    def start(self) -> None:
        self.run(
            "pg_ctl",
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-o",
            # The socket in the test's folder, no TCP; fsync off unless durable.
            f"-k {self.socket_dir} -c listen_addresses= -c max_connections=200"
            + ("" if self.durable else " -c fsync=off -c synchronous_commit=off"),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")


def start_server(durable: bool = False) -> PgServer:
    folder = Path(tempfile.mkdtemp(prefix="wad-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = ["setpriv", f"--reuid={pg.pw_uid}", f"--regid={pg.pw_gid}", "--clear-groups"]
    server = PgServer(folder, _bin_dir(), as_user, durable)
    server.run("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", USER, "--no-sync")
    server.start()
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(server.folder, ignore_errors=True)


_count = 0


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; its URL."""
    global _count
    _count += 1
    name = f"t{os.getpid()}_{_count}"
    pg_server.psql(f"CREATE DATABASE {name}")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
