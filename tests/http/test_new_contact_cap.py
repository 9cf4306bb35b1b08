"""The daily cap on messages to contacts who never wrote to the session: a real daemon
(cap 3), its sends refused with a 429 that names the cap and its reset, contacts who
wrote spared, the per-session override, and the count kept across a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine
from wad.services.caps import NewContactCap
from wad.store import Store

STRANGER, FRIEND = "15550004444", "15550005555"


@pytest.fixture
async def capped(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    config = make_config(tmp_path, new_contact_daily_cap=3)
    running = await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))
    yield running
    await running.close()


async def test_sends_to_strangers_are_capped_a_day(capped: Running) -> None:
    wad = capped
    auth = {"Authorization": f"Bearer {await wad.connected_key('cap')}"}

    async def send(to: str) -> object:
        return await wad.client.post(
            "/api/sessions/cap/messages", headers=auth, json={"to": to, "text": "hello"}
        )

    for _ in range(3):
        assert (await send(STRANGER)).status_code == 200
    refused = await send("15550006666")  # another stranger: the same cap
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert "newContactDailyCap 3" in body["error"] and "resets at" in body["error"]
    reset = (int(time.time()) // 86_400 + 1) * 86_400
    assert abs(int(refused.headers["Retry-After"]) - (reset - time.time())) < 5
    # Nothing of the refused send was stored or sent.
    sent = (await wad.client.get("/api/simulator/sessions/cap/sent", headers=wad.admin)).json()
    assert len(sent["messages"]) == 3

    # Someone who wrote to the session is no stranger.
    r = await wad.client.post(
        "/api/simulator/sessions/cap/incoming",
        headers=wad.admin,
        json={"from": FRIEND, "message": "hi, it's me"},
    )
    assert r.status_code == 200, r.text
    for _ in range(5):
        assert (await send(FRIEND)).status_code == 200
    # The seed's send route is capped the same way.
    r = await wad.client.post(
        "/api/messages/send",
        headers=auth,
        json={"deviceId": "cap", "number": STRANGER, "message": "again"},
    )
    assert r.status_code == 429

    # A session of its own cap: raised, then off.
    await wad.client.patch("/api/sessions/cap", headers=wad.admin, json={"newContactDailyCap": 4})
    assert (await send(STRANGER)).status_code == 200
    assert (await send(STRANGER)).status_code == 429
    await wad.client.patch("/api/sessions/cap", headers=wad.admin, json={"newContactDailyCap": 0})
    assert (await send(STRANGER)).status_code == 200

    # A new count (a daemon restart) reads the day's sends from the store.
    store: Store = wad.daemon.store
    fresh = NewContactCap(make_config(Path("/nonexistent"), new_contact_daily_cap=5), store)
    assert (
        await store.read(lambda q: q.sends_to_unknown_since("cap", "2000-01-01T00:00:00.000Z")) == 5
    )
    await fresh.admit("cap", f"{STRANGER}@s.whatsapp.net")  # the 6th? no: cap 0 is the session's
    await wad.client.patch(
        "/api/sessions/cap", headers=wad.admin, json={"newContactDailyCap": None}
    )
    with pytest.raises(Exception, match="newContactDailyCap 5"):
        await fresh.admit("cap", f"{STRANGER}@s.whatsapp.net")
