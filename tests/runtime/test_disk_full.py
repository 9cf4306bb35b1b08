"""A full disk, for real: the state folder on a small tmpfs, filled to the last byte.
Sends and simulated incoming messages get 507 ``storage full`` (one log line, no
traceback), the daemon stays up, a message received meanwhile waits and is stored
once space is freed, and everything works again."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from conftest import make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine
from wad.errors import StorageFull
from wad.store import Store
from wad.systemd.integration import HEARTBEAT_MIGRATIONS, StoreProbe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "bench"))
from benchlib import ADMIN, WadProcess, create_session, prepair, wait_connected  # noqa: E402

PHONE = "15550002222"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()


class SmallDisk:
    """A tmpfs of a few MiB mounted at ``path``; :meth:`fill` takes every free byte."""

    def __init__(self, path: Path, size: str = "4m") -> None:
        self.path = path
        self.size = size
        self.filler = path / "filler"

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {done.stderr.strip()}")

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 512, 1):  # down to the last partial block
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    small = SmallDisk(tmp_path / "disk")
    small.mount()
    try:
        yield small
    finally:
        small.unmount()


def send(url: str, auth: dict[str, str], text: str) -> httpx.Response:
    return httpx.post(
        url + "/api/sessions/d/messages", headers=auth, json={"to": PHONE, "text": text}, timeout=30
    )


@pytest.mark.slow
def test_a_full_disk_answers_507_keeps_the_daemon_up_and_recovers(
    tmp_path: Path, disk: SmallDisk
) -> None:
    state = disk.path / "state"
    prepair(state, "d")
    log = tmp_path / "wad.log"  # off the small disk, so the log itself has room
    daemon = WadProcess(state, log_path=log, env={"WAD_LOG_LEVEL": "INFO"}).start()
    try:
        key = create_session(daemon.url, "d")
        wait_connected(daemon.url, {"d"})
        auth = {"Authorization": f"Bearer {key}"}
        assert send(daemon.url, auth, "before").status_code == 200
        disk.fill()
        # SQLite may still have room inside its write-ahead log for a few writes.
        for i in range(100):
            refused = send(daemon.url, auth, f"full {i}")
            if refused.status_code != 200:
                break
        assert refused.status_code == 507, refused.text
        assert [send(daemon.url, auth, "still full").status_code for _ in range(3)] == [507] * 3
        body = refused.json()
        assert body["success"] is False and body["error"] == "storage full"
        image = httpx.post(
            daemon.url + "/api/sessions/d/messages",
            headers=auth,
            json={"to": PHONE, "type": "image", "media": {"data": PNG, "mimetype": "image/png"}},
            timeout=30,
        )
        assert image.status_code == 507
        media = state / "sessions" / "d" / "media"
        assert not media.exists() or list(media.iterdir()) == []  # no partial file left
        admin = ADMIN
        incoming = daemon.url + "/api/simulator/sessions/d/incoming"
        r = httpx.post(incoming, headers=admin, json={"from": PHONE, "message": "hi"}, timeout=30)
        assert r.status_code == 507 and r.json()["error"].startswith("storage full")
        assert httpx.get(daemon.url + "/healthz", timeout=10).status_code == 200
        assert daemon.proc is not None and daemon.proc.poll() is None

        disk.free()
        assert send(daemon.url, auth, "after").status_code == 200
        r = httpx.post(incoming, headers=admin, json={"from": PHONE, "message": "back"}, timeout=30)
        assert r.status_code == 200
        wait_connected(daemon.url, {"d"})
    finally:
        daemon.stop()
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("storage full: writes to") == 1  # once when it filled, not per write
    assert text.count("storage writable again") == 1


async def test_a_message_received_while_the_disk_is_full_waits_and_is_stored_after(
    tmp_path: Path, disk: SmallDisk, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, state_dir=str(disk.path / "state"))
    wad = await start_daemon(nursery, config, SimulatorEngine())
    await wad.connected_key("d")
    faults = wad.daemon.supervisor.faults
    disk.fill()
    with wad.daemon.events.subscribe() as stream:
        for i in range(300):  # the write-ahead log's own room first
            wad.engine.link("d").deliver(PHONE, f"held {i}")
            await trio.testing.wait_all_tasks_blocked()
            if faults.counts["storage_full"]:
                break
        assert faults.counts["storage_full"] == 1
        assert wad.daemon.store.full
        stored_while_full = i
        disk.free()
        got: list[str] = []
        async for event in stream:
            if event.type == "message":
                got.append(event.payload["text"])
                if got[-1] == f"held {stored_while_full}":
                    break
    assert not wad.daemon.store.full
    assert wad.daemon.supervisor.get("d").state == "connected"  # type: ignore[union-attr]
    stored = [
        m["body"]
        for m in await wad.daemon.store.read(lambda q: q.list_messages("d", "in", None, 1000))
    ]
    assert sorted(stored) == sorted(f"held {n}" for n in range(stored_while_full + 1))
    await wad.close()


async def test_the_watchdog_probe_keeps_feeding_on_a_full_disk(disk: SmallDisk) -> None:
    """Under systemd, a store that takes no write stops the watchdog's pings (systemd
    then restarts the daemon); a full disk is not that: a restart frees no space."""
    store = Store(disk.path / "wad.db")
    store.migrate_plugin("systemd", HEARTBEAT_MIGRATIONS)
    await store.run(lambda q: q.create_session("d"))
    probe = StoreProbe(store.path, timeout_ms=50)
    assert probe.writable()
    disk.fill()
    with contextlib.suppress(StorageFull):  # the write-ahead log's own room, then none
        for i in range(10_000):
            await store.run(lambda q, i=i: q.insert_incoming("d", f"W{i}", "p", "text", "x" * 500))
    assert store.full
    assert probe.writable()  # alive: 507s meanwhile, and resumes by itself
    probe.close()
    store.close()
