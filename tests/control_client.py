"""A small async client of the control socket for tests (real Unix socket, trio)."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path
from typing import Any

import trio

from wad.engines.wire import LineDecoder, encode


class Conn:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._decoder = LineDecoder(64 << 20)
        self._lines: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def line(self) -> dict[str, Any]:
        """The next line from the daemon; raises EOFError when it hung up."""
        while not self._lines:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self._lines.extend(self._decoder.feed(data))
        return self._lines.pop(0)

    async def request(self, method: str, **params: Any) -> dict[str, Any]:
        """The whole answer line (``result`` or ``error``) to one request."""
        request_id = next(self._ids)
        await self.send_raw(encode({"id": request_id, "method": method, "params": params}))
        answer = await self.line()
        assert answer["id"] == request_id, answer
        return answer

    async def call(self, method: str, **params: Any) -> Any:
        answer = await self.request(method, **params)
        assert "result" in answer, answer
        return answer["result"]

    async def error(self, method: str, **params: Any) -> str:
        answer = await self.request(method, **params)
        assert "error" in answer, answer
        return answer["error"]["code"]

    async def aclose(self) -> None:
        await self.stream.aclose()


async def connect(path: Path | str) -> Conn:
    return Conn(await trio.open_unix_socket(str(path)))


def control_call(path: Path, method: str, **params: Any) -> dict[str, Any]:
    """One request on a fresh connection, blocking: for tests that drive a daemon process
    from plain (non-trio) code."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(json.dumps({"id": 1, "method": method, "params": params}).encode() + b"\n")
        return json.loads(sock.makefile().readline())
