"""The control protocol, sans-IO: bytes in, requests and error lines out; dispatch.

One request per line, ``{"id": 1, "method": "sessions.list", "params": {}}``,
answered by ``{"id": 1, "result": ...}`` or ``{"id": 1, "error": {"code", "message"}}``.
Unlike :class:`wad.wire.LineDecoder` (a trusted peer: a bad line ends the
stream), an administrator's client may send anything: every bad line gets its
own error and the stream goes on. A line longer than :data:`MAX_LINE` is
answered once with ``line_too_long`` and skipped up to its newline, without
ever buffering more than the limit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wad import text
from wad.engines.wire import MAX_LINE, encode
from wad.errors import WadError

log = logging.getLogger(__name__)

#: Every error code the control socket answers with; stable, documented in the README.
ERROR_CODES: dict[str, str] = {
    "bad_json": "the line is not valid UTF-8 JSON",
    "line_too_long": f"the line is longer than {MAX_LINE} bytes; it was skipped",
    "bad_request": "not a request object, or a missing or invalid parameter",
    "unknown_method": "no method by that name (sim.* exist only with the simulator engine)",
    "unauthorized": "a credential was refused",
    "forbidden": "the operation is not allowed",
    "not_found": "no such session, key, webhook, ...",
    "conflict": "the operation does not fit the current state",
    "too_large": "a value is too large",
    "rate_limited": "a limit was reached",
    "too_many_sessions": "the daemon holds the most sessions allowed (max_sessions)",
    "storage_full": "the disk is full: nothing was written; try again once space is freed",
    "bad_config": "the configuration file is invalid; the running one stays",
    "refused": "the peer's uid is not allowed on this socket",
    "busy": "too many connections; try again",
    "idle_timeout": "no request for too long; the connection is closed",
    "timeout": "a time limit was reached (fetching media by URL)",
    "bad_gateway": "a server the daemon fetched from failed (media by URL)",
    "unavailable": "the daemon cannot do it now",
    "no_owner": "a cluster's session runs on no node right now (failing over); try again",
    "internal": "an unexpected error in the daemon (logged)",
}

RequestId = int | str | None
Method = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """An error answer with one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any]


def error_line(code: str, message: str, request_id: RequestId = None) -> bytes:
    return encode({"id": request_id, "error": {"code": code, "message": message}})


def result_line(request_id: RequestId, result: Any) -> bytes:
    return encode({"id": request_id, "result": result})


class RequestDecoder:
    """Feed it received bytes in chunks of any size; get requests and error lines back.

    ``feed`` never raises: each bad line turns into the bytes of its error answer.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._skipping = False  # inside a too-long line, until its newline

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held (a half request)."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> list[Request | bytes]:
        out: list[Request | bytes] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            chunk = data[start:] if end < 0 else data[start:end]
            start = len(data) if end < 0 else end + 1
            if self._skipping:
                if end >= 0:
                    self._skipping = False
                continue
            if len(self._buffer) + len(chunk) > self.max_line:
                self._buffer.clear()
                self._skipping = end < 0
                out.append(
                    error_line("line_too_long", f"line longer than {self.max_line} bytes, skipped")
                )
                continue
            self._buffer += chunk
            if end >= 0:
                line = bytes(self._buffer)
                self._buffer.clear()
                if line.strip():
                    out.append(parse_line(line))
        return out


def parse_line(line: bytes) -> Request | bytes:
    """One complete line: a :class:`Request`, or the error line that answers it."""
    if text.json_too_deep(line):
        return error_line("bad_json", f"invalid JSON: nested more than {text.MAX_JSON_DEPTH} deep")
    try:
        obj = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return error_line("bad_json", f"invalid JSON: {exc}")
    except RecursionError:
        return error_line("bad_json", "invalid JSON: nested too deeply")
    # Checked before anything of the request is used, the id included: an answer
    # that echoed a lone surrogate could not be encoded, and the client would get
    # no answer at all (wad.text says why such strings are refused everywhere).
    if text.has_lone_surrogate(obj):
        return error_line(
            "bad_json", "invalid JSON: a string holds a lone surrogate, which is not valid Unicode"
        )
    if not isinstance(obj, dict):
        return error_line("bad_request", "a request is a JSON object")
    raw_id = obj.get("id")
    request_id = raw_id if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None
    if raw_id is not None and request_id is None:
        return error_line("bad_request", "id must be a number or a string")
    if isinstance(request_id, str) and len(request_id) > 200:
        return error_line("bad_request", "id must be at most 200 characters")
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        return error_line("bad_request", "method must be a non-empty string", request_id)
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return error_line("bad_request", "params must be an object", request_id)
    return Request(request_id, method, params)


async def dispatch(methods: Mapping[str, Method], request: Request) -> bytes:
    """Run one request's method; its answer line, result or error, whatever happens."""
    method = methods.get(request.method)
    if method is None:
        return error_line("unknown_method", f"no method {request.method!r}", request.id)
    try:
        result = await method(request.params)
    except ControlError as exc:
        return error_line(exc.code, exc.message, request.id)
    except WadError as exc:
        return error_line(exc.code, exc.message, request.id)
    except Exception:
        log.exception("control method %s failed", request.method)
        return error_line("internal", "internal error (see the daemon's log)", request.id)
    try:
        return result_line(request.id, result)
    except (TypeError, ValueError):
        log.exception("control method %s returned what JSON cannot hold", request.method)
        return error_line("internal", "internal error (see the daemon's log)", request.id)
