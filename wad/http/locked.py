"""Tokens from a locked-out address, answered before the application.

:mod:`wad.http.credentials` refuses them too; this ASGI middleware only makes
the refusal cheap: a flood of guesses from a locked-out address costs a header
parse each, not a request through Quart (about a third of the time, measured
on the hostile-clients test's machine). The answer is the one
:func:`wad.http.credentials.authenticate` gives: 429, ``Retry-After``, the JSON
envelope. A request that may carry a body is answered with ``Connection:
close``, since its body is never read. It sits inside
:class:`wad.http.forwarded.TrustedProxies`, so the address is the real client's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from wad.auth.lockout import Lockout

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


def message(wait: float) -> str:
    return f"Too many failed credentials from your address: try again in {math.ceil(wait)} s"


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def _presents_token(headers: list[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """Whether the request carries a bearer token, and whether it may carry a body."""
    token = body = False
    for name, value in headers:
        name = name.lower()
        if name == b"authorization":
            scheme, _, rest = value.partition(b" ")
            token = token or (scheme.lower() == b"bearer" and bool(rest.strip()))
        elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            body = True
    return token, body


class LockedOut:
    def __init__(self, app: ASGIApp, lockout: Lockout) -> None:
        self.app = app
        self.lockout = lockout

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            wait = self.lockout.locked_for(client[0]) if client else 0.0
            if wait > 0:
                token, body = _presents_token(list(scope["headers"]))
                if token:
                    await _refuse(send, wait, close=body)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: ASGISendCallable, wait: float, *, close: bool) -> None:
    answer = {"success": False, "error": message(wait), "code": "rate_limited"}
    content = json.dumps(answer).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"retry-after", retry_after(wait).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send(
        {"type": "http.response.start", "status": 429, "headers": headers, "trailers": False}
    )
    await send({"type": "http.response.body", "body": content, "more_body": False})
