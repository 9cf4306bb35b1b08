"""A scripted HTTP/1.1 origin on loopback (trio, raw bytes): each path answers as its
script says (a file, a redirect, a chunked or trickling body, a status), so the media
fetcher meets every kind of server. Every request is recorded; how many body bytes a
script got to send, too."""

from __future__ import annotations

import os
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import trio

Script = Callable[["Origin", trio.abc.Stream], Awaitable[None]]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]


@dataclass
class Origin:
    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # body bytes written, by path
    broken: set[str] = field(default_factory=set)  # paths whose client hung up mid-body
    finished: set[str] = field(default_factory=set)  # paths whose script has ended
    snis: list[str | None] = field(default_factory=list)  # server names asked for (https)
    url: str = ""
    _changed: trio.Event = field(default_factory=trio.Event)

    async def wait_finished(self, target: str) -> None:
        """Wait (for the script, not for time) until ``target``'s script has ended."""
        while target not in self.finished:
            await self._changed.wait()

    async def serve(
        self,
        context: ssl.SSLContext | None = None,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners: list[trio.abc.Listener[trio.abc.Stream]]
        if context is None:
            plain = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = plain[0].socket.getsockname()[1]
            listeners, scheme = list(plain), "http"
        else:
            context.sni_callback = self._sni
            tls = await trio.open_ssl_over_tcp_listeners(0, context, host="127.0.0.1")
            inner = tls[0].transport_listener
            assert isinstance(inner, trio.SocketListener)
            port = inner.socket.getsockname()[1]
            listeners, scheme = list(tls), "https"
        self.url = f"{scheme}://127.0.0.1:{port}"
        task_status.started(self.url)
        await trio.serve_listeners(self._handle, listeners)

    def _sni(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self.snis.append(name)

    async def _handle(self, stream: trio.abc.Stream) -> None:
        async with stream:
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        return
                    head += chunk
            except (trio.BrokenResourceError, ssl.SSLError):
                return  # e.g. a TLS handshake the client refused
            lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append(Request(method, target, headers))
            script = self.scripts.get(target.split("?")[0], not_found)
            self.sent[target] = 0
            try:
                await script(self, stream)
            except trio.BrokenResourceError:
                self.broken.add(target)
            finally:
                self.finished.add(target)
                self._changed.set()
                self._changed = trio.Event()

    async def body(self, stream: trio.abc.Stream, target: str, data: bytes) -> None:
        await stream.send_all(data)
        self.sent[target] = self.sent.get(target, 0) + len(data)


def head(status: str, *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def serves(data: bytes, content_type: str | None = "image/png", status: str = "200 OK") -> Script:
    """A whole body with its Content-Length (and Content-Type, unless None)."""

    async def script(origin: Origin, stream: trio.abc.Stream) -> None:
        headers = [("Content-Length", str(len(data)))]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        await stream.send_all(head(status, *headers))
        await origin.body(stream, origin.requests[-1].target, data)

    return script


def redirects(location: str, status: str = "302 Found") -> Script:
    async def script(origin: Origin, stream: trio.abc.Stream) -> None:
        await stream.send_all(head(status, ("Location", location), ("Content-Length", "0")))

    return script


def declares(size: int, hold: trio.Event) -> Script:
    """Headers with a Content-Length of ``size``, then no body until ``hold`` is set."""

    async def script(origin: Origin, stream: trio.abc.Stream) -> None:
        await stream.send_all(
            head("200 OK", ("Content-Length", str(size)), ("Content-Type", "image/png"))
        )
        await hold.wait()

    return script


def chunked(total: int, piece: int = 65536, content_type: str = "image/webp") -> Script:
    """A chunked body (no Content-Length) of up to ``total`` bytes."""

    async def script(origin: Origin, stream: trio.abc.Stream) -> None:
        target = origin.requests[-1].target
        await stream.send_all(
            head("200 OK", ("Transfer-Encoding", "chunked"), ("Content-Type", content_type))
        )
        left = total
        while left > 0:
            size = min(piece, left)
            await stream.send_all(f"{size:x}\r\n".encode())
            await origin.body(stream, target, b"\x5a" * size)
            await stream.send_all(b"\r\n")
            left -= size
        await stream.send_all(b"0\r\n\r\n")

    return script


def trickles(every: float, count: int) -> Script:
    """A body declared whole, sent one byte every ``every`` seconds (``count`` at most)."""

    async def script(origin: Origin, stream: trio.abc.Stream) -> None:
        target = origin.requests[-1].target
        await stream.send_all(
            head("200 OK", ("Content-Length", str(count)), ("Content-Type", "image/png"))
        )
        for _ in range(count):
            await trio.sleep(every)  # the slowness is what is being tested
            await origin.body(stream, target, b"\x89")

    return script


async def not_found(origin: Origin, stream: trio.abc.Stream) -> None:
    await stream.send_all(head("404 Not Found", ("Content-Length", "0")))


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG of noise (it does not compress: the file stays large)."""
    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


async def start(
    nursery: trio.Nursery, scripts: dict[str, Script], context: ssl.SSLContext | None = None
) -> Origin:
    """An origin on loopback serving ``scripts`` by path (``{"/pic.png": serves(...)}``)."""
    origin = Origin(dict(scripts))
    await nursery.start(partial(origin.serve, context))
    return origin
