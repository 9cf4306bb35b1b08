"""A small HTTP/1.1 server (trio + h11, keep-alive) that records webhook requests.

``answer(n, request)`` decides each reply: a status code, or None to hold the
request unanswered until ``release`` is set (a receiver that hangs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import trio


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # what was answered; None while held

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def always_ok(n: int, request: Received) -> int | None:
    return 200


@dataclass
class Receiver:
    answer: Callable[[int, Received], int | None] = always_ok
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    release: trio.Event = field(default_factory=trio.Event)
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    connections: int = 0
    _changed: trio.Event = field(default_factory=trio.Event)

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        task_status.started(self.url)
        await trio.serve_listeners(self.handle, listeners)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (for requests, not for time) until ``condition()`` holds."""
        while not condition():
            await self._changed.wait()

    def answered(self, ok: bool = True) -> list[Received]:
        return [r for r in self.requests if r.status is not None and (200 <= r.status < 300) == ok]

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read(conn, stream)
                if request is None:
                    return
                self.requests.append(request)
                status = self.answer(len(self.requests), request)
                self._notify()
                if status is None:
                    await self.release.wait()
                    status = 200
                request.status = status
                payload = b"" if status in (204, 304) else b"ok" if status < 300 else b"nope"
                headers = [
                    ("content-length", str(len(payload))),
                    ("content-type", "text/plain"),
                    *self.extra_headers,
                ]
                data = conn.send(h11.Response(status_code=status, headers=headers))
                data += conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage())
                await stream.send_all(data)
                self._notify()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
            return
        finally:
            await stream.aclose()

    async def _read(self, conn: h11.Connection, stream: trio.abc.Stream) -> Received | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {k.decode().lower(): v.decode() for k, v in head.headers}
                return Received(head.method.decode(), head.target.decode(), headers, bytes(body))
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
