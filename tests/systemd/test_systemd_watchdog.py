"""The notifier, the watchdog task and the descriptor parsing, in process."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest
import trio
from systemd_manager import FakeManager

from wad.store import Store
from wad.systemd import activation as listen_fds
from wad.systemd.integration import (
    HEARTBEAT_MIGRATIONS,
    StoreProbe,
    ping_while_healthy,
    status_line,
)
from wad.systemd.notify import Notifier, socket_address

INTERVAL = 0.05


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    fake = FakeManager()
    yield fake
    fake.close()


def test_environment_is_read_and_removed(manager: FakeManager) -> None:
    env = {
        "NOTIFY_SOCKET": manager.address,
        "WATCHDOG_USEC": "3000000",
        "WATCHDOG_PID": "4242",
        "OTHER": "x",
    }
    notifier = Notifier.from_environ(env, pid=4242)
    assert env == {"OTHER": "x"}
    assert notifier.watchdog_interval == 1.5
    assert notifier.ready("2 sessions:\n 1 connected")
    notice = manager.wait_for("READY", timeout=5)
    assert notice.fields == {"READY": "1", "STATUS": "2 sessions: 1 connected"}


def test_watchdog_for_another_process_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_environ(env, pid=4242).watchdog_interval is None


def test_no_socket_no_notices() -> None:
    notifier = Notifier.from_environ({}, pid=1)
    assert not notifier.enabled and not notifier.ready() and notifier.watchdog_interval is None


def test_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    if len(path) > 100:
        pytest.skip("temporary path too long for a Unix socket")
    fake = FakeManager(path)
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": path}, pid=1)
        notifier.stopping("bye")
        assert fake.wait_for("STOPPING", timeout=5).fields["STATUS"] == "bye"
    finally:
        fake.close()


def test_socket_addresses() -> None:
    assert socket_address("@abc") == "\0abc"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("vsock:2:1234") is None


def test_a_gone_manager_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert not notifier.watchdog() and not notifier.watchdog()
    assert caplog.text.count("cannot notify systemd") == 1


def test_status_line() -> None:
    assert status_line({}) == "no sessions"
    assert status_line({"waiting_qr": 1, "connected": 2}) == "3 sessions: 1 waiting_qr, 2 connected"
    assert status_line({"connected": 1}) == "1 session: 1 connected"


async def test_a_blocked_loop_sends_no_ping(manager: FakeManager) -> None:
    """A genuine in-loop freeze: a task that blocks the trio thread (as a hung
    synchronous call would) keeps the watchdog task from running."""
    notifier = Notifier(manager.address)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ping_while_healthy, notifier, lambda: True, INTERVAL)
        await trio.to_thread.run_sync(manager.wait_for, "WATCHDOG")
        blocked_from = time.monotonic()
        time.sleep(1.0)  # the freeze under test  # noqa: ASYNC251
        blocked_until = time.monotonic()
        await trio.to_thread.run_sync(manager.wait_for, "WATCHDOG")
        nursery.cancel_scope.cancel()
    # 20 ping periods without one (a ping already in flight may land just after).
    assert manager.between("WATCHDOG", blocked_from + 0.02, blocked_until) == []
    assert len(manager.between("WATCHDOG", 0, blocked_from)) >= 1


def make_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "wad.db")
    store.migrate_plugin("systemd", HEARTBEAT_MIGRATIONS)
    return store


def test_probe_sees_a_held_write_lock(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    probe = StoreProbe(store.path, timeout_ms=50)
    assert probe.writable()
    other = apsw.Connection(str(store.path))
    other.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    assert not probe.writable()
    assert time.monotonic() - started < 1.0  # gave up after its short wait
    other.execute("ROLLBACK")
    assert probe.writable()
    assert store.connection.db.execute("SELECT count(*) FROM watchdog_heartbeat").fetchone() == (1,)
    probe.close()
    other.close()
    store.close()


def test_probe_sees_a_read_only_database(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.close()
    readonly = StoreProbe.__new__(StoreProbe)
    readonly.db = apsw.Connection(str(tmp_path / "wad.db"), flags=apsw.SQLITE_OPEN_READONLY)
    readonly._failing = False
    assert not readonly.writable()
    readonly.close()


async def test_pings_stop_while_the_store_is_locked(tmp_path: Path, manager: FakeManager) -> None:
    store = make_store(tmp_path)
    probe = StoreProbe(store.path, timeout_ms=20)
    notifier = Notifier(manager.address)
    other = apsw.Connection(str(store.path))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ping_while_healthy, notifier, probe.writable, INTERVAL)
        await trio.to_thread.run_sync(manager.wait_for, "WATCHDOG")
        other.execute("BEGIN EXCLUSIVE")
        locked_from = time.monotonic()
        await trio.sleep(20 * INTERVAL)
        locked_until = time.monotonic()
        other.execute("ROLLBACK")
        await trio.to_thread.run_sync(manager.wait_for, "WATCHDOG")
        nursery.cancel_scope.cancel()
    assert manager.between("WATCHDOG", locked_from + 0.02, locked_until) == []
    probe.close()
    other.close()
    store.close()


# -- socket activation: parsing ------------------------------------------------------


def test_listen_fds_for_another_process_are_left_alone() -> None:
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:control"}
    assert listen_fds.passed_fds(env, pid=4242) == []
    assert env == {}


def test_listen_fds_names_and_defaults() -> None:
    # Real descriptors 3 and 4 may belong to pytest: parse with fresh ones moved there
    # is not possible in process, so check the arithmetic on a process of its own.
    code = (
        "import os, socket, json\n"
        "from wad.systemd import activation as listen_fds\n"
        "tcp = socket.create_server(('127.0.0.1', 0)); os.dup2(tcp.fileno(), 3)\n"
        "unix = socket.socket(socket.AF_UNIX); unix.bind(''); unix.listen()\n"
        "os.dup2(unix.fileno(), 4)\n"
        "dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); os.dup2(dgram.fileno(), 5)\n"
        "env = {'LISTEN_PID': str(os.getpid()), 'LISTEN_FDS': '3', 'LISTEN_FDNAMES': ''}\n"
        "found = listen_fds.listening_sockets(env)\n"
        "print(json.dumps({k: v.fileno() for k, v in found.items()}), env,"
        " os.get_inheritable(3))\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    # Unnamed: the IP socket is http, the Unix one control; the datagram one refused.
    assert done.stdout.strip() == '{"http": 3, "control": 4} {} False'
    assert "not a stream socket" in done.stderr


def test_listen_fds_bad_count() -> None:
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "many"}
    assert listen_fds.passed_fds(env) == []


def test_unknown_name_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert "unknown name" in (listen_fds._unusable(sock, "admin") or "")
        assert listen_fds._unusable(sock, "control") == "the control socket must be a Unix socket"
        assert listen_fds._unusable(sock, "http") is None
