"""Any node answers any request: a request for a session that another node runs is
forwarded to that node, and its answer relayed as it is (issue 20).

Only in a cluster (``database_url``); a single server installs none of this.

Two ways in, one way out:

- by path, before anything reads the request (a ``before_request`` hook, ahead of
  the rate limits): a route under ``/api/sessions/<device_id>`` (or the
  simulator's) whose session this node does not run. Nothing of the request is
  read here, so its body, however large (a multipart upload), streams on to the
  owner;
- by :class:`wad.services.lookup.OwnedElsewhere`, which the services raise for a
  session not run here that the path did not name (or one that moved while the
  request ran). Its body is sent on if it can still be read whole (not multipart:
  Quart's form parser has consumed that one).

Where to: the owner's URL in ``nodes`` (:func:`wad.cluster.peers.route`), never a
URL from the request. A session with no live owner (its node died and the lease
has not run out, a handover under way, not yet placed) is waited for up to
``WAIT`` seconds; then the answer is 503 ``no_owner`` with ``Retry-After``. A
request another node forwarded is never forwarded again (``X-Wad-Cluster``,
:mod:`wad.http.peers`): a node whose view is stale answers instead of looping.

The owner's answer is relayed: its status, its headers but the hop-by-hop ones,
its body streamed as it comes (a media download is never held whole).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import trio
from quart import Quart, Response, request
from werkzeug.datastructures import Headers

from wad import validation
from wad.cluster import peers
from wad.cluster.timing import LEASE
from wad.errors import WadError
from wad.http.peers import forwarded_by, target
from wad.http.request import is_multipart
from wad.services.lookup import OwnedElsewhere

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)

#: How long a request waits for a session with no live owner to get one, in
#: seconds: a planned handover takes about one placement pass, a failover the
#: lease and more (then the client is told to retry).
WAIT = 5.0
POLL = 0.2
RETRY_AFTER = "2"
#: Not forwarded: live event streams are the cluster's through the database.
LOCAL_ENDPOINTS = frozenset({"live.session_events"})
#: Headers that concern one connection only (RFC 9110 7.6.1), and those the
#: server of each hop writes itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
        "date",
        "server",
        peers.HEADER.lower(),
    }
)
TIMEOUT = httpx.Timeout(connect=2.0, read=150.0, write=60.0, pool=10.0)
LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=32)


def no_owner(device_id: str) -> WadError:
    return WadError(
        "no_owner",
        f"Session {device_id} runs on no node right now (failing over or being handed"
        " over); try again shortly",
        {"Retry-After": RETRY_AFTER},
    )


@dataclass
class Figures:
    forwarded: int = 0
    failed: int = 0
    no_owner: int = 0


class Forwarder:
    def __init__(self, daemon: DaemonAPI, database_url: str) -> None:
        self.daemon = daemon
        self.figures = Figures()
        # The lease is the cluster's constant (wad.cluster.timing): an owner older
        # than that by the server's clock has fenced.
        self.directory = peers.Directory(database_url, daemon.config.node, LEASE)
        self._client: httpx.AsyncClient | None = None

    # -- the parts -----------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.daemon.config.node

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        self.directory.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _route(self, device_id: str) -> peers.Route | None:
        try:
            return await self.directory.route(device_id)
        except psycopg.Error as exc:
            log.warning("cluster: cannot read where %s runs: %s", device_id, exc)
            raise WadError(
                "unavailable",
                "This node cannot reach the cluster's database",
                {"Retry-After": RETRY_AFTER},
            ) from None

    # -- the two ways in -------------------------------------------------------------

    async def by_path(self) -> Response | None:
        """The ``before_request`` hook: forward a request whose path names a session
        that runs elsewhere (None: this node answers it)."""
        device_id = (request.view_args or {}).get("device_id")
        if not isinstance(device_id, str) or request.endpoint in LOCAL_ENDPOINTS:
            return None
        if self.daemon.supervisor.get(device_id) is not None:
            return None  # runs here: the common case costs one dict look-up
        if forwarded_by(request.scope) is not None:
            return None  # never twice: this node answers (from the database, or 503)
        try:
            validation.device_id(device_id)
        except WadError:
            return None  # the route says why
        return await self._forward(device_id, None)

    async def elsewhere(self, exc: OwnedElsewhere) -> Any:
        """The error handler of :class:`OwnedElsewhere` (it answers: an error handler
        that raised would make a 500)."""
        try:
            if forwarded_by(request.scope) is not None:
                raise no_owner(exc.device_id)  # never twice
            if is_multipart(request.content_type or ""):
                raise no_owner(exc.device_id)  # its body is gone; a retry goes by path
            # The send path names a session without reading its row: is it one?
            await self.daemon.services.lookup.row(exc.device_id)  # 404 if none
            body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
            answer = await self._forward(exc.device_id, body, unplaced=True)
            if answer is None:  # this node's after all: it is (re)starting it here
                raise no_owner(exc.device_id)
            return answer
        except WadError as error:
            answer_body = {"success": False, "error": error.message, "code": error.code}
            return answer_body, error.http_status, error.headers

    # -- the way out -------------------------------------------------------------------

    async def _forward(
        self, device_id: str, body: bytes | None, *, unplaced: bool = False
    ) -> Response | None:
        """Forward to the session's owner, waiting up to ``WAIT`` for one; None: this
        node is to answer (it owns the session, or, unless ``unplaced``, the session
        has no ``owners`` row: the route then answers by the store, 404 if none)."""
        deadline = trio.current_time() + WAIT
        while True:
            route = await self._route(device_id)
            if route is None and not unplaced:
                return None
            if route is None:
                route = peers.Route(None, None)  # stored, not placed yet: wait for it
            if route.node_id == self.node_id:
                return None  # this node's (it is starting it)
            if route.node_id is not None and not route.url:
                raise WadError(
                    "unavailable",
                    f"This session runs on node {route.node_id}, which has no node_url",
                )
            if route.node_id is not None and route.url:
                try:
                    return await self._send(route, body)
                except httpx.ConnectError as exc:
                    # Nothing was sent: the owner is going (its lease will run out).
                    log.info("cluster: node %s unreachable (%s); waiting", route.node_id, exc)
            if trio.current_time() >= deadline:
                self.figures.no_owner += 1
                raise no_owner(device_id)
            await trio.sleep(POLL)

    async def _send(self, route: peers.Route, body: bytes | None) -> Response:
        secret = self.daemon.config.cluster_secret
        if not secret:
            raise WadError(
                "unavailable",
                f"This session runs on node {route.node_id}; this node cannot forward to it"
                " (no cluster_secret)",
            )
        assert route.url is not None
        raw = target(request.scope)
        headers = [
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in HOP_BY_HOP
        ]
        headers.append(
            (
                peers.HEADER,
                peers.sign(
                    secret,
                    self.node_id,
                    request.method,
                    raw,
                    request.remote_addr or "",
                    request.scheme,
                    time.time(),
                ),
            )
        )
        content: bytes | AsyncIterator[bytes] | None = body
        if body is None and _has_body(request.headers):
            content = _chunks(request.body)
        client = self.client()
        outgoing = client.build_request(
            request.method, route.url.rstrip("/") + raw, headers=headers, content=content
        )
        try:
            upstream = await client.send(outgoing, stream=True)
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            self.figures.failed += 1
            log.warning("cluster: forwarding to node %s failed: %s", route.node_id, exc)
            raise WadError(
                "unavailable",
                f"The node that runs this session ({route.node_id}) did not answer",
                {"Retry-After": RETRY_AFTER},
            ) from None
        self.figures.forwarded += 1
        relayed = Headers(
            [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        )
        response = Response(_relay(upstream), status=upstream.status_code, headers=relayed)
        response.timeout = None  # a download may take long
        return response


def _has_body(headers: Any) -> bool:
    length = headers.get("Content-Length")
    return bool(headers.get("Transfer-Encoding")) or (length is not None and length != "0")


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    async for chunk in body:
        yield chunk


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


def install(app: Quart, daemon: DaemonAPI, database_url: str) -> Forwarder:
    """Forwarding for a cluster node: before every other hook (the owner applies
    the rate limits and checks the credentials, with the real client's address)."""
    forwarder = Forwarder(daemon, database_url)
    app.before_request(forwarder.by_path)
    app.register_error_handler(OwnedElsewhere, forwarder.elsewhere)
    app.after_serving(forwarder.close)
    app.config["WAD_FORWARDER"] = forwarder
    return forwarder
