"""The HTTP/1.1 client of webhook deliveries: keep-alive connections over trio
streams, h11 for the protocol, every new connection through the address guard.

httpx costs several times more per request on trio (its pool looks at every
pooled connection on every request); a delivery needs one thing: POST a body,
read the status and a little of the answer. So:

- each new connection resolves the host through :class:`wad.netguard.Guard`
  and connects only to an address it has just checked (no second resolution,
  so DNS rebinding cannot get through); https verifies the certificate against
  the URL's host name, sent as SNI;
- idle connections are kept per origin (scheme, host, port) and reused, the
  most recently used first; one idle longer than ``keepalive`` is closed
  instead. A reused connection that the receiver had closed (the request's
  write fails, or it ends before any byte of an answer) is replaced once by a
  new one: a webhook delivery is at least once, with a stable ``webhook-id``;
- no redirect is followed: the status and ``Location`` are the answer;
- at most ``read_limit`` bytes of an answer's body are read; a longer answer,
  an error, a cancellation or ``Connection: close`` closes the connection;
- the caller sets the time limit (``trio.fail_after`` around :meth:`post`).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio

from wad.net.guard import AddressRefused, Guard

READ_LIMIT = 64 * 1024
SNIPPET = 800  # bytes of a failed answer's body kept


class DeliveryError(Exception):
    """No complete answer; the message says why (no secret, no body)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    location: str | None
    body: bytes  # the start of the body (a failed answer's, for the log)


@dataclass(frozen=True, slots=True)
class Target:
    origin: tuple[str, str, int]
    host_header: str
    path: str


class _Stale(Exception):
    """A reused connection turned out closed before it answered anything."""


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.http = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()


class PostClient:
    def __init__(
        self,
        guard: Guard,
        *,
        user_agent: str,
        keepalive: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
        read_limit: int = READ_LIMIT,
        idle_per_origin: int = 64,
    ) -> None:
        self.guard = guard
        self.user_agent = user_agent
        self.keepalive = keepalive
        self.read_limit = read_limit
        self.idle_per_origin = idle_per_origin
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._targets: dict[str, Target] = {}
        self.connections_opened = 0

    async def post(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> Answer:
        target = self._target(url)
        for _ in range(2):
            conn, reused = self._take(target.origin)
            if conn is None:
                conn = await self._connect(target)
            try:
                answer, keep = await self._exchange(conn, target, body, headers, reused)
            except _Stale:
                await trio.aclose_forcefully(conn.stream)
                continue  # the reused connection was closed: once more on a new one
            except BaseException:
                await trio.aclose_forcefully(conn.stream)
                raise
            if keep:
                self._put(target.origin, conn)
            else:
                await trio.aclose_forcefully(conn.stream)
            return answer
        raise DeliveryError("the receiver closed the connection without answering")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await trio.aclose_forcefully(conn.stream)

    # -- connections ---------------------------------------------------------------------

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DeliveryError("the url is not an http(s) URL with a host")
            default = 443 if parts.scheme == "https" else 80
            port = parts.port or default
            host = parts.hostname
            shown = f"[{host}]" if ":" in host else host
            target = Target(
                (parts.scheme, host, port),
                shown if port == default else f"{shown}:{port}",
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            )
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[url] = target
        return target

    def _take(self, origin: tuple[str, str, int]) -> tuple[_Connection | None, bool]:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.keepalive:
                return conn, True
            _close_now(conn.stream)
        return None, False

    def _put(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self.idle_per_origin:
            _close_now(idle.pop(0).stream)
        idle.append(conn)

    async def _connect(self, target: Target) -> _Connection:
        scheme, host, port = target.origin
        try:
            addresses = await self.guard.resolve(host, port)
        except AddressRefused as exc:
            raise DeliveryError(f"refused: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(address, port)
            except OSError as exc:
                failure = exc
                continue
            self.connections_opened += 1
            if scheme == "https":
                context = self._ssl or ssl.create_default_context()
                tls = trio.SSLStream(stream, context, server_hostname=host, https_compatible=True)
                try:
                    await tls.do_handshake()
                except BaseException as exc:
                    await trio.aclose_forcefully(stream)
                    if isinstance(exc, trio.BrokenResourceError | ssl.SSLError):
                        cause = exc.__cause__ or exc
                        raise DeliveryError(f"TLS: {cause}"[:300]) from exc
                    raise
                stream = tls
            return _Connection(stream)
        raise DeliveryError(f"cannot connect to {host}:{port}: {failure}"[:300])

    # -- one exchange ----------------------------------------------------------------------

    async def _exchange(
        self,
        conn: _Connection,
        target: Target,
        body: bytes,
        headers: list[tuple[str, str]],
        reused: bool,
    ) -> tuple[Answer, bool]:
        http = conn.http
        request = h11.Request(
            method="POST",
            target=target.path,
            headers=[
                ("host", target.host_header),
                ("user-agent", self.user_agent),
                ("content-length", str(len(body))),
                *headers,
            ],
        )
        data = http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
        try:
            await conn.stream.send_all(data)
        except trio.BrokenResourceError as exc:
            if reused:
                raise _Stale from exc
            raise DeliveryError(
                f"the connection broke while sending: {exc.__cause__ or exc}"
            ) from exc
        status, location, kept, read, whole = 0, None, bytearray(), 0, True
        answered = False
        try:
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    chunk = await conn.stream.receive_some(65536)
                    if not chunk and not answered and reused:
                        raise _Stale
                    answered = answered or bool(chunk)
                    http.receive_data(bytes(chunk))  # bytes already: no copy
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    for name, value in event.headers:
                        if name == b"location":
                            location = value.decode("latin-1")
                elif isinstance(event, h11.Data):
                    read += len(event.data)
                    if not 200 <= status < 300 and len(kept) < SNIPPET:
                        kept += event.data[: SNIPPET - len(kept)]
                    if read > self.read_limit:
                        whole = False
                        break
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise DeliveryError("the receiver closed the connection without answering")
        except trio.BrokenResourceError as exc:
            if reused and not answered:
                raise _Stale from exc
            raise DeliveryError(f"the connection broke: {exc.__cause__ or exc}") from exc
        except h11.RemoteProtocolError as exc:
            raise DeliveryError(f"not a valid HTTP answer: {exc}"[:300]) from exc
        keep = whole and http.our_state is h11.DONE and http.their_state is h11.DONE
        if keep:
            http.start_next_cycle()
        return Answer(status, location, bytes(kept)), keep


def _close_now(stream: trio.abc.Stream) -> None:
    """Close an idle connection without awaiting (nothing is in flight on it)."""
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if isinstance(inner, trio.SocketStream):
        inner.socket.close()
