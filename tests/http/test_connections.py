"""HTTP connections are bounded: served keep-alive connections close after the
keep-alive timeout, and past ``max_connections`` a new one is refused with 503
(issue 13, item 2).

Real sockets against a real daemon in the test's loop. Before the fix, a
connection that had served a request was never closed by the keep-alive timeout
(186 idle clients exhausted ``ulimit -n 200``), and there was no cap.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine

KEEP_ALIVE = 1.0
IDLE_CLIENTS = 20
MAX_CONNECTIONS = 5
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


async def start(tmp_path: Path, nursery: trio.Nursery, **overrides: object) -> Running:
    config = make_config(tmp_path, **overrides)
    return await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))


@pytest.fixture
async def short_keep_alive(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    running = await start(tmp_path, nursery, keep_alive_timeout=KEEP_ALIVE)
    yield running
    await running.close()


async def connect(url: str) -> trio.SocketStream:
    host, port = url.removeprefix("http://").split(":")
    return await trio.open_tcp_stream(host, int(port))


async def request(stream: trio.SocketStream, raw: bytes = HEALTHZ) -> bytes:
    """Send one request, return its whole answer (the headers and the body)."""
    await stream.send_all(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += await stream.receive_some(65536)
    return head + b"\r\n\r\n" + body


async def closed_by_server(stream: trio.SocketStream, within: float) -> bool:
    """Whether the server closes ``stream`` within ``within`` seconds (EOF or reset)."""
    with trio.move_on_after(within):
        try:
            return await stream.receive_some(65536) == b""
        except trio.BrokenResourceError:
            return True
    return False


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """The server's own counters change in its tasks: give them their turn."""
    with trio.fail_after(within):
        while not condition():
            await trio.sleep(0.01)


def open_connections(wad: Running) -> int:
    assert wad.daemon.http is not None
    return wad.daemon.http.statistics()["connections"]


async def test_served_connections_close_after_the_keep_alive_timeout(
    short_keep_alive: Running,
) -> None:
    wad = short_keep_alive
    streams = [await connect(wad.url) for _ in range(IDLE_CLIENTS)]
    never_used = await connect(wad.url)
    try:
        for stream in streams:  # one request each, then idle
            assert (await request(stream)).startswith(b"HTTP/1.1 200")
        assert open_connections(wad) == IDLE_CLIENTS + 1
        results = []
        for stream in [*streams, never_used]:
            results.append(await closed_by_server(stream, within=KEEP_ALIVE * 3))
        assert results == [True] * (IDLE_CLIENTS + 1)
        await wait_until(lambda: open_connections(wad) == 0)
    finally:
        for stream in [*streams, never_used]:
            await stream.aclose()


async def test_a_request_outlasting_the_keep_alive_timeout_is_answered(
    short_keep_alive: Running,
) -> None:
    """The timer runs only while a connection waits for its next request: a request
    whose body is still coming after the keep-alive timeout is answered, and the
    connection serves the next one."""
    wad = short_keep_alive
    stream = await connect(wad.url)
    try:
        await stream.send_all(
            b"POST /api/nothing/here HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n"
        )
        await trio.sleep(KEEP_ALIVE * 1.5)  # the server's timer runs on its own clock
        assert (await request(stream, b"{}")).startswith(b"HTTP/1.1 404")
        assert (await request(stream)).startswith(b"HTTP/1.1 200")
    finally:
        await stream.aclose()


async def test_a_connection_whose_client_left_is_released_at_once(
    short_keep_alive: Running,
) -> None:
    wad = short_keep_alive
    stream = await connect(wad.url)
    assert (await request(stream)).startswith(b"HTTP/1.1 200")
    assert open_connections(wad) == 1
    await stream.aclose()
    # Not after the keep-alive timeout: at once (well within it).
    await wait_until(lambda: open_connections(wad) == 0, within=KEEP_ALIVE / 2)


@pytest.fixture
async def capped(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    running = await start(tmp_path, nursery, max_connections=MAX_CONNECTIONS)
    yield running
    await running.close()


async def test_connections_beyond_the_cap_get_503_and_close(
    capped: Running, caplog: pytest.LogCaptureFixture
) -> None:
    wad = capped
    held = [await connect(wad.url) for _ in range(MAX_CONNECTIONS)]
    try:
        for stream in held:
            assert (await request(stream)).startswith(b"HTTP/1.1 200")
        with caplog.at_level(logging.WARNING, logger="wad.http.server"):
            for _ in range(8):  # one burst of refusals
                extra = await connect(wad.url)
                async with extra:
                    answer = await request(extra)
                    assert answer.startswith(b"HTTP/1.1 503")
                    assert b"connection: close" in answer.lower()
                    assert b"Too many connections" in answer
                    assert await closed_by_server(extra, within=2.0)
        refusals = [r for r in caplog.records if "max_connections" in r.getMessage()]
        assert len(refusals) == 1  # logged once per burst, not once per connection
        assert wad.daemon.http is not None
        assert wad.daemon.http.statistics()["refused"] == 8
        # The held connections still work; one closes, and a new one is served.
        assert (await request(held[0])).startswith(b"HTTP/1.1 200")
        await held.pop().aclose()
        await wait_until(lambda: open_connections(wad) == MAX_CONNECTIONS - 1)
        fresh = await connect(wad.url)
        async with fresh:
            assert (await request(fresh)).startswith(b"HTTP/1.1 200")
    finally:
        for stream in held:
            await stream.aclose()
