"""A blocking client of the control socket: one request at a time, or an event stream."""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wad.config import control_socket_path
from wad.engines.wire import LineDecoder, WireError, encode

#: Answers can be larger than requests (a long session list); still bounded.
MAX_ANSWER = 64 << 20


class ClientError(Exception):
    """Something wadctl reports in one line; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def socket_path(
    explicit: str | None = None,
    state_dir: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Path:
    """Where the daemon listens, by the daemon's own rule (:func:`control_socket_path`)."""
    return control_socket_path(explicit, state_dir, env)


class Client:
    def __init__(self, path: Path, timeout: float | None = 120.0) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._decoder = LineDecoder(MAX_ANSWER)
        self._pending: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            self._sock.close()
            raise ClientError(
                "not_running", f"wad is not running (no daemon listens on {path})"
            ) from None
        except PermissionError:
            self._sock.close()
            raise ClientError(
                "refused",
                f"permission denied on {path} (run as root, "
                "the daemon's user or a member of its group)",
            ) from None
        except OSError as exc:
            self._sock.close()
            raise ClientError("not_running", f"cannot connect to {path}: {exc}") from None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> Any:
        """The method's result; :class:`ClientError` with the daemon's code on an error."""
        request_id = next(self._ids)
        self._send({"id": request_id, "method": method, "params": params})
        while True:
            line = self._read()
            error = line.get("error")
            if error is not None and line.get("id") in (request_id, None):
                raise ClientError(str(error.get("code")), str(error.get("message")))
            if line.get("id") == request_id and "result" in line:
                return line["result"]

    def subscribe(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Each event (``StoredEvent.to_json()`` shape) as it happens, until the stream ends."""
        self.call("events.subscribe", **params)
        self._sock.settimeout(None)
        while True:
            line = self._read()
            if "event" in line:
                yield line["event"]
            elif "error" in line:
                raise ClientError(str(line["error"].get("code")), str(line["error"].get("message")))

    def _send(self, obj: dict[str, Any]) -> None:
        try:
            self._sock.sendall(encode(obj))
        except OSError as exc:
            # A refused peer is told why and then hung up on: the reason may be waiting.
            line = self._read()
            if "error" in line:
                raise ClientError(
                    str(line["error"].get("code")), str(line["error"].get("message"))
                ) from None
            raise ClientError("unavailable", f"the daemon closed the connection: {exc}") from None

    def _read(self) -> dict[str, Any]:
        while not self._pending:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise ClientError("unavailable", "the daemon did not answer in time") from None
            except OSError as exc:
                raise ClientError("unavailable", f"connection lost: {exc}") from None
            if not data:
                raise ClientError("unavailable", "the daemon closed the connection")
            try:
                self._pending.extend(self._decoder.feed(data))
            except WireError as exc:
                raise ClientError("internal", f"unreadable answer: {exc}") from None
        return self._pending.pop(0)
