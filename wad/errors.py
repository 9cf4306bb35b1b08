"""Errors that cross a door (REST or control socket) with a stable code.

The same operation raises the same :class:`WadError` whichever door it came
through; each door maps ``code`` to its own form (an HTTP status, a protocol
error code, a CLI exit code).
"""

from __future__ import annotations

HTTP_STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "timeout": 408,
    "conflict": 409,
    "too_many_sessions": 409,
    "too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
    # A cluster: the session runs on no node right now (failing over, being handed
    # over, not placed yet); Retry-After says when to ask again.
    "no_owner": 503,
    "storage_full": 507,
    "internal": 500,
    "bad_gateway": 502,
}


# The REST API's answers for errors raised by Quart itself rather than by wad (an
# unknown path, a method the route does not take, a body over the limit...).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    500: "internal",
    502: "bad_gateway",
    503: "unavailable",
}
#: Every ``code`` an error answer of the REST API can carry (README lists them).
ERROR_CODES = tuple(dict.fromkeys([*HTTP_STATUS, *HTTP_CODES.values()]))


def code_for_status(status: int) -> str:
    """The code of an HTTP error that no WadError named (the nearest for a rare status)."""
    return HTTP_CODES.get(status) or ("internal" if status >= 500 else "bad_request")


class WadError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}  # HTTP headers of the answer (Retry-After...)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


class StorageFull(WadError):
    """A write found no room (SQLite's SQLITE_FULL, ``ENOSPC`` writing a file): nothing
    of the operation was kept; it can be tried again once space is freed."""

    def __init__(self, message: str = "storage full") -> None:
        super().__init__("storage_full", message)


def bad_request(message: str) -> WadError:
    return WadError("bad_request", message)


def not_found(message: str) -> WadError:
    return WadError("not_found", message)


def conflict(message: str) -> WadError:
    return WadError("conflict", message)
