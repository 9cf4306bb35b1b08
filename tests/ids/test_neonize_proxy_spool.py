"""The neonize engine with real worker processes, on this machine that cannot reach
WhatsApp: a session's proxy is what its worker dials (a local SOCKS5 listener sees
the worker's greeting and its credentials), and messages a dead worker left in its
spool reach the store through the next one, once, counted in /metrics."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import trio
from conftest import make_config, start_daemon

from wad.engines.neonize.engine import NeonizeEngine
from wad.engines.neonize.spool import SPOOL

pytestmark = pytest.mark.slow


class Socks5Listener:
    """Reads a SOCKS5 client's greeting and user/password, then refuses (or, with
    ``hold``, keeps the connection open without a word more)."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.greetings: list[bytes] = []
        self.credentials: list[tuple[str, str]] = []
        self.seen = trio.Event()
        self.port = 0

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            head = await stream.receive_some(2)
            methods = await stream.receive_some(head[1]) if len(head) == 2 else b""
            self.greetings.append(head + methods)
            await stream.send_all(b"\x05\x02")  # user/password, please
            auth = await stream.receive_some(513)
            user_len = auth[1]
            user = auth[2 : 2 + user_len].decode()
            password = auth[3 + user_len : 3 + user_len + auth[2 + user_len]].decode()
            self.credentials.append((user, password))
            self.seen.set()
            if self.hold:
                await trio.sleep_forever()
            await stream.send_all(b"\x01\x01")  # refused

    async def serve(self, nursery: trio.Nursery) -> int:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
        )
        self.port = listeners[0].socket.getsockname()[1]
        return self.port


async def test_the_worker_dials_the_sessions_socks5_proxy_with_its_credentials(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    listener = Socks5Listener()
    port = await listener.serve(nursery)
    engine = NeonizeEngine(grace=2.0)
    options = {"proxy": f"socks5://alice:s3cr%40t@127.0.0.1:{port}", "history": "full"}
    async with engine.open_link("s1", tmp_path / "s1", options) as link:
        events = [event async for event in link.events()]
    assert listener.greetings and listener.greetings[0][0] == 5  # SOCKS version 5
    assert 2 in listener.greetings[0][2:]  # it offers user/password authentication
    assert listener.credentials == [("alice", "s3cr@t")]
    assert [e.kind for e in events] == ["error"]  # the proxy refused: the dial failed
    assert "no such host" not in events[0].data["message"]  # it never dialed directly


async def test_a_sessions_proxy_reaches_its_worker_only(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Through a daemon: session p1 with a proxy dials it; p2 without one dials directly
    (and fails, offline), never through p1's."""
    listener = Socks5Listener(hold=True)
    port = await listener.serve(nursery)
    config = make_config(tmp_path, engine="neonize", backoff_initial=30.0, backoff_cap=30.0)
    wad = await start_daemon(nursery, config, NeonizeEngine(grace=1.0))
    try:
        with wad.daemon.events.subscribe() as events:
            proxy = f"socks5://bob:pw@127.0.0.1:{port}"
            for body in ({"deviceId": "p2"}, {"deviceId": "p1", "proxy": proxy}):
                r = await wad.client.post("/api/sessions", json=body, headers=wad.admin)
                assert r.status_code == 201, r.text
            async for event in events:
                if event.device_id == "p2" and event.payload.get("state") == "failed":
                    assert "no such host" in event.payload["lastError"]
                    break
        await listener.seen.wait()
        assert listener.credentials == [("bob", "pw")]  # p1's worker, and only it
    finally:
        await wad.close()


async def test_messages_left_in_a_spool_are_stored_once_through_the_next_worker(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    listener = Socks5Listener(hold=True)  # keeps the worker alive, dialing
    port = await listener.serve(nursery)
    config = make_config(tmp_path, engine="neonize", backoff_initial=30.0, backoff_cap=30.0)
    folder = Path(config.state_dir) / "sessions" / "s1"
    folder.mkdir(parents=True)
    left = [
        {
            "id": f"WALEFT{n}",
            "chat": "15550002222@s.whatsapp.net",
            "type": "text",
            "from": "15550002222@s.whatsapp.net",
            "text": f"left {n}",
            "timestamp": 1_767_000_000,
        }
        for n in range(3)
    ]
    lines = [json.dumps({"seq": n + 7, "data": d}) for n, d in enumerate(left)]
    # One spooled twice, under two numbers (a worker restarted mid-confirmation).
    lines.insert(1, json.dumps({"seq": 20, "data": left[0]}))
    (folder / SPOOL).write_text("\n".join(lines) + "\n")
    wad = await start_daemon(nursery, config, NeonizeEngine(grace=1.0))
    try:
        with wad.daemon.events.subscribe() as events:
            body = {"deviceId": "s1", "proxy": f"socks5://u:p@127.0.0.1:{port}"}
            assert (
                await wad.client.post("/api/sessions", json=body, headers=wad.admin)
            ).status_code == 201
            got = []
            async for event in events:
                if event.type == "message":
                    got.append(event.payload)
                    if len(got) == 3:
                        break
        assert [m["waId"] for m in got] == ["WALEFT0", "WALEFT1", "WALEFT2"]
        assert all(m["recovered"] is True for m in got)
        # The daemon confirmed them: the live worker emptied its spool.
        with trio.fail_after(20):
            while (folder / SPOOL).read_text():
                await trio.sleep(0.05)  # the worker's own write: no event to wait on
        metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
        assert 'wad_engine{figure="messages_recovered"} 4' in metrics
        assert 'wad_engine{figure="messages_missing"} 0' in metrics
        assert 'wad_incoming_total{stage="received"} 4' in metrics
        assert 'wad_incoming_total{stage="stored"} 3' in metrics
        assert 'wad_incoming_total{stage="duplicate"} 1' in metrics
        stored = (await wad.client.get("/api/sessions/s1/messages", headers=wad.admin)).json()
        assert sorted(m["waId"] for m in stored["messages"]) == ["WALEFT0", "WALEFT1", "WALEFT2"]
    finally:
        await wad.close()
