"""The live event stream: a stream filtered to one session gets its heartbeat while
other sessions are busy, and every stream ends at once when the daemon stops
(issue 13, item 8, and the graceful stop).

Before the fix, each event of any session reset the heartbeat's timer, so a
filtered stream next to a busy session got nothing at all: no event (all were
filtered out) and no heartbeat, and proxies closed it as idle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from conftest import make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine
from wad.http import live

HEARTBEAT = 0.3


async def test_a_filtered_stream_gets_its_heartbeat_while_others_are_busy(
    wad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT", HEARTBEAT)
    await wad.client.post("/api/sessions", json={"deviceId": "quiet"}, headers=wad.admin)
    await wad.wait_state("quiet", "waiting_qr")
    await wad.connected_key("busy")
    received: list[str] = []
    async with (
        wad.client.stream("GET", "/api/events?session=quiet", headers=wad.admin) as r,
        trio.open_nursery() as nursery,
    ):

        async def busy() -> None:  # an event of another session every HEARTBEAT / 4
            while True:
                await wad.client.post(
                    "/api/simulator/sessions/busy/incoming",
                    headers=wad.admin,
                    json={"from": "15550002222", "message": "busy"},
                )
                await trio.sleep(HEARTBEAT / 4)

        nursery.start_soon(busy)
        with trio.move_on_after(HEARTBEAT * 6):
            async for line in r.aiter_lines():
                received.append(line)
                if line == ": keep-alive":
                    break
        nursery.cancel_scope.cancel()
    assert ": keep-alive" in received
    events = [json.loads(line[6:]) for line in received if line.startswith("data: ")]
    assert all(e.get("session", "quiet") == "quiet" for e in events)  # none of busy's


async def test_streams_end_at_once_when_the_daemon_stops(tmp_path: Path) -> None:
    # A stream never ends by itself: the stop must not wait its deadline for it.
    config = make_config(tmp_path, shutdown_timeout=30)
    with trio.fail_after(10):  # well before the 30 s deadline
        async with trio.open_nursery() as nursery:
            wad = await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))
            async with wad.client.stream("GET", "/api/events", headers=wad.admin) as r:
                lines = r.aiter_lines()
                assert (await lines.__anext__()).startswith("retry:")
                wad.daemon.stop()
                async for _ in lines:  # until the server ends it
                    pass
            await wad.client.aclose()
