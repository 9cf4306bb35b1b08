"""The keep-alive timer of one connection (wad.http.keepalive) on trio's clock, and
its look at the real socket for a request that came in time but is not read yet."""

from __future__ import annotations

import trio
import trio.testing

from wad.http.keepalive import KeepAlive
from wad.http.server import _unread


class Timer:
    def __init__(self, unread: bool = False) -> None:
        self.closed_at: float | None = None
        self.unread = unread
        self.terminated = trio.Event()
        self.keep_alive = KeepAlive(5.0, self.terminated, self.close, lambda: self.unread)

    async def close(self) -> None:
        self.closed_at = trio.current_time()
        self.keep_alive.end()


async def run_timer(timer: Timer, nursery: trio.Nursery) -> float:
    nursery.start_soon(timer.keep_alive.run)
    await trio.testing.wait_all_tasks_blocked()
    timer.keep_alive.idle()
    return trio.current_time()


async def test_an_idle_connection_closes_after_the_timeout(autojump_clock: object) -> None:
    timer = Timer()
    async with trio.open_nursery() as nursery:
        start = await run_timer(timer, nursery)
    assert timer.closed_at is not None
    assert 5.0 <= timer.closed_at - start < 5.1


async def test_a_request_waiting_unread_gets_one_more_period_once(autojump_clock: object) -> None:
    timer = Timer(unread=True)  # bytes wait at every deadline: a trickle, or a busy loop
    async with trio.open_nursery() as nursery:
        start = await run_timer(timer, nursery)
    assert timer.closed_at is not None
    assert 10.0 <= timer.closed_at - start < 10.1


async def test_the_grace_is_given_again_after_each_answer(autojump_clock: object) -> None:
    timer = Timer(unread=True)
    async with trio.open_nursery() as nursery:
        start = await run_timer(timer, nursery)
        await trio.sleep(7.0)  # in the grace: hypercorn reads the request
        timer.keep_alive.busy()
        await trio.sleep(1.0)
        timer.keep_alive.idle()  # answered: a new idle period, with its own grace
        answered = trio.current_time()
    assert timer.closed_at is not None
    assert 10.0 <= timer.closed_at - answered < 10.1
    assert timer.closed_at - start > 15.0


async def test_a_stopping_server_closes_an_idle_connection_at_once(autojump_clock: object) -> None:
    timer = Timer(unread=True)
    async with trio.open_nursery() as nursery:
        start = await run_timer(timer, nursery)
        await trio.sleep(1.0)
        timer.terminated.set()
    assert timer.closed_at is not None
    assert 1.0 <= timer.closed_at - start < 1.1


async def test_unread_sees_bytes_waiting_in_a_real_socket() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        stream = trio.SocketStream(a)
        assert not _unread(stream)
        await b.send(b"GET /healthz HTTP/1.1\r\n")
        assert _unread(stream)
        await stream.receive_some(65536)
        assert not _unread(stream)
