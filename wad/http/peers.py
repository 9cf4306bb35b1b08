"""Requests forwarded by another node: the ``X-Wad-Cluster`` header checked first.

An ASGI middleware, outermost: a request that carries the header is either a
node's, with a valid MAC (:func:`wad.cluster.peers.verify`), or refused at once
(403) and never reaches the application. A valid one:

- tells who the client really is (the forwarding node already found it, behind
  its own trusted proxies): the scope's ``client`` and ``scheme`` become the
  claimed ones, so throttling and lock-outs key on the real client here too, and
  :class:`wad.http.forwarded.TrustedProxies` is skipped (the claim is final);
- is marked (``scope["extensions"]["wad.forwarded_by"]``: the node's id), so that
  it is never forwarded again;
- loses the header: nothing above sees, logs or answers it.

A node without ``cluster_secret`` refuses every such header.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from wad.cluster import peers

log = logging.getLogger(__name__)

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

FORWARDED_BY = "wad.forwarded_by"
_HEADER = peers.HEADER.lower().encode()


def target(scope: Any) -> str:
    """The raw request target a MAC covers: the path as sent, and the query."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    text = raw.decode("latin-1")
    return f"{text}?{query.decode('latin-1')}" if query else text


def forwarded_by(scope: Any) -> str | None:
    """The node that forwarded this request (None: a client's own)."""
    extensions = scope.get("extensions") or {}
    found = extensions.get(FORWARDED_BY)
    return found if isinstance(found, str) else None


class FromNodes:
    """``app``: the whole stack (with the trusted proxies' middleware); ``claimed``:
    the stack inside it, for requests whose client a node vouched for."""

    def __init__(self, app: ASGIApp, claimed: ASGIApp, secret: str | None) -> None:
        self.app = app
        self.claimed = claimed
        self.secret = secret

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name.lower() == _HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        claim = None
        if self.secret and len(values) == 1:
            claim = peers.verify(
                self.secret,
                values[0].decode("latin-1"),
                scope["method"],
                target(scope),
                time.time(),
            )
        if claim is None:
            peer = scope.get("client")
            # Never the header's value: it may hold a MAC worth studying.
            log.warning(
                "refused a request with an invalid %s header from %s",
                peers.HEADER,
                peer[0] if peer else "?",
            )
            await _refuse(send)
            return
        extensions: dict[str, Any] = dict(scope.get("extensions") or {})
        extensions[FORWARDED_BY] = claim.node_id
        changed = dict(
            scope,
            client=(claim.client, 0),
            scheme=claim.scheme,
            extensions=extensions,
            headers=[(n, v) for n, v in scope["headers"] if n.lower() != _HEADER],
        )
        await self.claimed(cast(Scope, changed), receive, send)


async def _refuse(send: ASGISendCallable) -> None:
    answer = {
        "success": False,
        "error": f"Invalid {peers.HEADER} header: not forwarded by a node of this cluster",
        "code": "forbidden",
    }
    content = json.dumps(answer).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),  # its body is never read
    ]
    await send(
        {"type": "http.response.start", "status": 403, "headers": headers, "trailers": False}
    )
    await send({"type": "http.response.body", "body": content, "more_body": False})
