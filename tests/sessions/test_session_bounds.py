"""Bounds on sessions: at most ``max_sessions`` per daemon."""

from __future__ import annotations

from pathlib import Path

import trio
from conftest import make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine


async def test_sessions_beyond_max_sessions_are_refused_with_a_clear_error(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    running = await start_daemon(nursery, make_config(tmp_path, max_sessions=2), SimulatorEngine())
    create = running.client.post
    for device_id in ("a", "b"):
        r = await create("/api/sessions", json={"deviceId": device_id}, headers=running.admin)
        assert r.status_code == 201
    r = await create("/api/sessions", json={"deviceId": "c"}, headers=running.admin)
    assert r.status_code == 409
    assert r.json()["success"] is False and "max_sessions 2" in r.json()["error"]
    # An existing one is still "already exists", not the cap; deleting one makes room.
    r = await create("/api/sessions", json={"deviceId": "a"}, headers=running.admin)
    assert r.status_code == 409 and "exists" in r.json()["error"]
    await running.client.delete("/api/sessions/b", headers=running.admin)
    r = await create("/api/sessions", json={"deviceId": "c"}, headers=running.admin)
    assert r.status_code == 201
    assert await running.daemon.store.read(lambda q: q.get_session("c")) is not None
    await running.close()
