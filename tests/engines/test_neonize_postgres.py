"""The neonize engine with whatsmeow's store on PostgreSQL (``database_url``): real
worker processes, the real neonize library (offline: WhatsApp is unreachable here) and
a real throwaway PostgreSQL server (``pg_url``, tests/pgserver.py).

Each session's store is a schema of its own (wad.engines.neonize.pgstore): whatsmeow
creates its tables there, the session shows the dial error as with SQLite, two
sessions in one database keep their devices apart, and the URL's password is never
shown.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import trio
from conftest import ADMIN_TOKEN, spawn_daemon
from psycopg import sql
from test_neonize_worker import (  # noqa: F401 (proxy: a fixture)
    DIAL_ERROR,
    Rig,
    SilentProxy,
    _workers_of,
    gone,
    proxy,
)

from wad.engines.neonize.engine import WHATSMEOW_DB, NeonizeEngine
from wad.engines.neonize.storeurl import redact, schema_for, store_url
from wad.sessions.session import SessionTiming

pytestmark = pytest.mark.slow

#: A few of whatsmeow's tables: the device, its Signal sessions and keys, app state.
CORE_TABLES = {
    "whatsmeow_version",
    "whatsmeow_device",
    "whatsmeow_identity_keys",
    "whatsmeow_pre_keys",
    "whatsmeow_sessions",
    "whatsmeow_app_state_sync_keys",
    "whatsmeow_lid_map",
}
SECRET = "s3cret-pw"


def tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    return {row[0] for row in rows}


def schema_version(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT version FROM {}.whatsmeow_version")
        row = conn.execute(query.format(sql.Identifier(schema))).fetchone()
    assert row is not None
    return int(row[0])


def with_password(url: str, password: str) -> str:
    """The URL with a password (the test server trusts its socket: it is never asked)."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password)}@{host}"))


async def dial_error(engine: NeonizeEngine, device_id: str, folder: Path) -> str:
    async with engine.open_link(device_id, folder) as link:
        events = [event async for event in link.events()]
    assert [e.kind for e in events] == ["error"], events
    return str(events[0].data["message"])


async def fails_to_dial(engine: NeonizeEngine, device_id: str, folder: Path) -> None:
    """Its store opened (or the error would be the store's): only the dial failed."""
    assert DIAL_ERROR in await dial_error(engine, device_id, folder)


async def test_a_worker_opens_its_store_in_the_sessions_schema_and_shows_the_dial_error(
    pg_url: str, tmp_path: Path
) -> None:
    engine = NeonizeEngine(grace=5, database_url=pg_url)
    message = await dial_error(engine, "s1", tmp_path / "s1")
    assert DIAL_ERROR in message and "no such host" in message
    schema = schema_for("s1")
    assert tables(pg_url, schema) >= CORE_TABLES
    assert schema_version(pg_url, schema) > 0  # whatsmeow's migrations ran there
    assert not tables(pg_url, "public") & CORE_TABLES  # nothing outside the schema
    # No SQLite store beside it: the folder keeps the lock and the spool only.
    assert not (tmp_path / "s1" / WHATSMEOW_DB).exists()
    # A second run finds its store as it left it (no new migration, same tables).
    assert DIAL_ERROR in await dial_error(engine, "s1", tmp_path / "s1")
    assert tables(pg_url, schema) >= CORE_TABLES
    stats = engine.statistics()
    assert (stats.workers_started, stats.worker_crashes) == (2, 0)


def _plant_device(url: str, schema: str, jid: str) -> None:
    """A paired device's row (random keys of the right lengths), as whatsmeow saves one."""
    with psycopg.connect(url) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.whatsmeow_device (jid, registration_id, noise_key,"
                " identity_key, signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key,"
                " adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig, push_name)"
                " VALUES (%s, 7, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, 'planted')"
            ).format(sql.Identifier(schema)),
            (
                jid,
                os.urandom(32),
                os.urandom(32),
                os.urandom(32),
                os.urandom(64),
                os.urandom(32),
                b"details",
                os.urandom(64),
                os.urandom(32),
                os.urandom(64),
            ),
        )


def _devices(url: str) -> list[str]:
    """The devices whatsmeow finds in the store at ``url`` (neonize's GetAllDevices)."""
    from neonize.client import ClientFactory

    return [f"{d.JID.User}@{d.JID.Server}" for d in ClientFactory.get_all_devices_from_db(url)]


async def test_two_sessions_in_one_database_keep_their_devices_apart(
    pg_url: str, tmp_path: Path
) -> None:
    engine = NeonizeEngine(grace=5, database_url=pg_url)
    async with trio.open_nursery() as nursery:  # both at once, in one worker
        for device_id in ("a1", "A-1"):  # one readable name: the digest tells them apart
            nursery.start_soon(fails_to_dial, engine, device_id, tmp_path / device_id)
    assert engine.statistics().workers_started == 1
    first, second = schema_for("a1"), schema_for("A-1")
    assert first != second
    assert tables(pg_url, first) >= CORE_TABLES and tables(pg_url, second) >= CORE_TABLES
    # A device stored in one session's store is the one whatsmeow finds there, and
    # only there.
    _plant_device(pg_url, first, "15550001111:7@s.whatsapp.net")
    assert await trio.to_thread.run_sync(_devices, store_url(pg_url, first)) == [
        "15550001111:7@s.whatsapp.net"
    ]
    assert await trio.to_thread.run_sync(_devices, store_url(pg_url, second)) == []
    # The session with a device still starts (and fails its dial); the other is blank.
    assert DIAL_ERROR in await dial_error(engine, "a1", tmp_path / "a1")
    # Deleting one drops its schema only.
    engine.forget(tmp_path / "a1")
    await engine.stores._drops["a1"].wait()  # type: ignore[union-attr]
    assert not tables(pg_url, first)
    assert tables(pg_url, second) >= CORE_TABLES


async def test_the_session_shows_the_dial_error_and_deleting_it_drops_its_schema(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    rig = Rig(
        tmp_path,
        NeonizeEngine(grace=1.0, database_url=pg_url),
        SessionTiming(pairing_timeout=60, backoff_initial=0.4, backoff_cap=0.8),
    )
    await nursery.start(rig.supervisor.run)
    try:
        failures = 0
        with rig.events.subscribe() as stream:
            await rig.supervisor.create("s1")
            async for event in stream:  # it fails, retries (finding its store), fails
                if event.type == "session.status" and event.payload["state"] == "failed":
                    assert DIAL_ERROR in event.payload["lastError"]
                    failures += 1
                    if failures == 2:
                        break
        row = await rig.store.read(lambda q: q.get_session("s1"))
        assert row is not None and DIAL_ERROR in (row.last_error or "")
        assert tables(pg_url, schema_for("s1")) >= CORE_TABLES
        assert await rig.supervisor.delete("s1")
        with trio.fail_after(10):
            while tables(pg_url, schema_for("s1")):
                await trio.sleep(0.05)  # dropped by a task the delete does not wait for
    finally:
        for device_id in list(rig.supervisor.sessions):
            await rig.supervisor.delete(device_id)
        rig.store.close()


async def test_the_store_urls_password_is_never_shown(
    pg_url: str,
    tmp_path: Path,
    proxy: SilentProxy,  # noqa: F811 (the fixture, imported)
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The URL goes to the worker over its socket: not in its command line, not in its
    environment, not in a log line, not in an error."""
    caplog.set_level("DEBUG")
    url = with_password(pg_url, SECRET)
    engine = NeonizeEngine(grace=1.0, database_url=url)
    async with engine.open_link("s1", tmp_path / "s1") as link:
        await proxy.connected.wait()  # its store is open: the worker is dialing
        pid = link.process.pid
        assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    assert gone(pid) or link.process.returncode is not None
    assert tables(pg_url, schema_for("s1")) >= CORE_TABLES
    # A store that cannot be opened: the session's error says why, without the secret.
    parts = urlsplit(url)
    missing = urlunsplit(parts._replace(path="/no_such_db"))
    message = await dial_error(NeonizeEngine(grace=1.0, database_url=missing), "s2", tmp_path)
    assert "no_such_db" in message and "does not exist" in message
    assert SECRET not in message
    assert caplog.records and not [r for r in caplog.records if SECRET in r.getMessage()]


def test_the_store_url_keeps_the_options_it_had(pg_url: str) -> None:
    given = f"{pg_url}&options={quote('-c statement_timeout=4321')}"
    with psycopg.connect(given) as conn:
        conn.execute("CREATE SCHEMA wad_wm_x")
    with psycopg.connect(store_url(given, "wad_wm_x")) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("wad_wm_x",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("4321ms",)
    assert "connect_timeout=10" in store_url(given, "wad_wm_x")
    assert "connect_timeout=3" in store_url(f"{given}&connect_timeout=3", "wad_wm_x")
    assert "connect_timeout=10" not in store_url(f"{given}&connect_timeout=3", "wad_wm_x")


def test_schema_names_are_distinct_safe_and_short() -> None:
    ids = ["s1", "S1", "a-b", "a_b", "x" * 64, "X" * 64]
    names = [schema_for(device_id) for device_id in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert name.startswith("wad_wm_") and len(name) <= 63
        assert name == name.lower() and name.replace("_", "").isalnum()
    assert redact("pq: bad url postgresql://u:p%40ss@h/db", "postgresql://u:p%40ss@h/db") == (
        "pq: bad url postgresql://u:***@h/db"
    )
    assert redact("p@ss leaked", "postgresql://u:p%40ss@h/db") == "*** leaked"


def server_connections(url: str) -> int:
    """Connections to the test's database, this one excepted."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_worker_holds_at_most_twice_its_room_in_server_connections(
    pg_url: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """neonize never closes the pool of a connect that ended: each keeps a server
    connection until its worker ends. A worker kept alive by one session while another
    keeps failing and retrying takes 2 x its room in sessions, then retires."""
    silent = SilentProxy()
    held_proxy = await silent.serve(nursery)
    engine = NeonizeEngine(grace=1.0, sessions_per_worker=2, database_url=pg_url)
    assert engine.placement.retire_after == 4
    async with engine.open_link("held", tmp_path / "held", {"proxy": held_proxy}) as held:
        await silent.connected.wait()  # its store is open; it dials and hangs
        for _ in range(6):  # the other one fails its dial again and again
            await fails_to_dial(engine, "cycled", tmp_path / "cycled")
            assert server_connections(pg_url) <= 4
        # The first worker took 4 sessions and retired (its held one stays); each
        # later attempt had a worker of its own, which ended with it.
        stats = engine.statistics()
        assert (stats.workers_started, stats.worker_crashes) == (4, 0)
        assert held.alive


def test_the_daemon_keeps_neonize_stores_on_its_database_server(
    pg_url: str, tmp_path: Path
) -> None:
    """``wad serve`` with WAD_DATABASE_URL: a session's whatsmeow store is its schema on
    that server, its state the dial error; the URL's password is in no worker's command
    line and no log line; deleting the session drops its schema."""
    url = with_password(pg_url, SECRET)
    env = {
        "WAD_DATABASE_URL": url,
        "WAD_LOG_LEVEL": "DEBUG",
        "WAD_BACKOFF_INITIAL": "0.2",
        "WAD_BACKOFF_CAP": "0.4",
    }
    daemon = spawn_daemon(tmp_path, env=env)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    schema = schema_for("real1")
    try:
        with httpx.Client(base_url=daemon.url, headers=admin, timeout=10) as http:
            assert http.post("/api/sessions", json={"deviceId": "real1"}).status_code == 201
            deadline = time.monotonic() + 30
            session: dict[str, object] = {}
            seen: set[bytes] = set()
            while time.monotonic() < deadline:
                for pid in _workers_of(daemon.proc.pid):
                    with contextlib.suppress(OSError):  # gone meanwhile
                        seen.add(Path(f"/proc/{pid}/cmdline").read_bytes())
                session = http.get("/api/sessions/real1").json()["session"]
                if DIAL_ERROR in str(session.get("lastError") or "") and seen:
                    break
                time.sleep(0.05)  # another process's state: polled
            assert DIAL_ERROR in str(session.get("lastError"))
            assert seen and not [line for line in seen if SECRET.encode() in line]
            assert tables(pg_url, schema) >= CORE_TABLES
            assert not (daemon.state_dir / "sessions" / "real1" / WHATSMEOW_DB).exists()
            assert http.delete("/api/sessions/real1").status_code in (200, 204)
            while tables(pg_url, schema) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not tables(pg_url, schema)
    finally:
        daemon.stop()
    assert daemon.proc.returncode == 0
    log = daemon.log.read_text()
    assert "Dialing" in log  # whatsmeow's debug lines are there too
    assert SECRET not in log


async def test_a_session_made_again_right_after_its_delete_starts_afresh(
    pg_url: str, tmp_path: Path
) -> None:
    """The drop runs in the background; a new session by that name waits for it, so
    the drop cannot take the new one's store away."""
    engine = NeonizeEngine(grace=5, database_url=pg_url)
    await fails_to_dial(engine, "s1", tmp_path / "s1")
    _plant_device(pg_url, schema_for("s1"), "15550001111:7@s.whatsapp.net")
    engine.forget(tmp_path / "s1")
    await fails_to_dial(engine, "s1", tmp_path / "s1")  # at once: the drop is under way
    assert tables(pg_url, schema_for("s1")) >= CORE_TABLES
    url = store_url(pg_url, schema_for("s1"))
    assert await trio.to_thread.run_sync(_devices, url) == []  # the old device is gone
