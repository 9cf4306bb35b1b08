"""Any node answers any request: a request for a session that another node runs is
forwarded to that node, and its answer relayed as it is (issue 20).

Only in a cluster (``database_url``); a single server installs none of this.

Two ways in, one way out:

- by path, before anything reads the request (a ``before_request`` hook, ahead of
  the rate limits): a route under ``/api/sessions/<device_id>`` (or the
  simulator's) whose session this node does not run, or the seed's send, whose
  small JSON body names it (``deviceId``). Nothing else of the request is read
  here, so a body however large (a multipart upload) streams on to the owner;
- by :class:`wad.services.lookup.OwnedElsewhere`, which the services raise for a
  session not run here that the path did not name (or one that moved while the
  request ran). Its body is sent on if it can still be read whole (not multipart:
  Quart's form parser has consumed that one).

Where to: the owner's URL in ``nodes`` (:func:`wad.cluster.peers.route`), never a
URL from the request. A request another node forwarded is never forwarded again
(``X-Wad-Cluster``, :mod:`wad.http.peers`): a node whose view is stale answers
instead of looping.

The owner's answer is relayed: its status, its headers but the hop-by-hop ones,
its body streamed as it comes (a media download is never held whole).

A planned handover (``wadctl move``, a drain) answers every request, none 503.
The node that RECEIVED the request waits for the new owner and forwards then; the
old owner does not hold and forward on. Why this side: the receiving node is the
only one that knows the request was not forwarded yet, so "never forwarded twice"
(the loop-proof rule above) stays true without a hop count; and it is the one
whose client is waiting, so one deadline (``WAIT``) bounds the whole wait however
many nodes the session passes through. What each node does:

- the old owner, asked to stop the session, first lets every request already
  dispatched here finish (:meth:`Forwarder.settle`, the supervisor's
  ``before_stop``; the session has left the supervisor, so no new one starts on
  it), then stops it: no send is cut off by the handover;
- a request for a session that runs nowhere (released, not claimed yet), or that
  its owner is about to hand over while its body cannot be sent twice, waits;
- the old owner answers a request forwarded to it after it let the session go
  with 503 ``no_owner`` before doing anything; the receiving node holds the body
  of every request that is not a stream (JSON, at most ``REPLAYABLE`` bytes), so
  it sends it again, to the new owner, once there is one;
- the new owner holds a request for a session it has claimed until it runs it
  and, for ``TAKEOVER`` seconds after the claim, until it is connected (a send
  to a session still connecting would answer 409).

Only ``WAIT`` seconds in all: a session with no owner for longer (its node died
and the lease has not run out, or no node may take it) answers 503 ``no_owner``
with ``Retry-After``. What a planned handover can still answer 503: a streamed
body (a multipart upload) that reached the old owner in the instant it let the
session go (its body is gone; a retry succeeds). After a kill -9 of a node, the
requests it was answering get no answer (their connections to it close; through
another node, 503 ``unavailable``, "did not answer"): their outcome is unknown,
not lost (a send accepted into the store goes again, with its id, when the
session connects on its new node); the others wait as above, up to ``WAIT``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import trio
from quart import Quart, Response, g, request
from werkzeug.datastructures import Headers

from wad import validation
from wad.cluster import peers
from wad.cluster.timing import LEASE
from wad.errors import WadError
from wad.http.peers import forwarded_by, target
from wad.http.request import is_multipart
from wad.services.lookup import OwnedElsewhere
from wad.sessions.states import State

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI
    from wad.sessions.session import Session

log = logging.getLogger(__name__)

#: How long a request waits for a session with no live owner to get one, in
#: seconds: a planned handover takes about one placement pass, a failover the
#: lease and more (then the client is told to retry).
WAIT = 5.0
POLL = 0.1
RETRY_AFTER = "2"
#: A session this node claimed less than this long ago that is not connected yet is
#: still being handed over: its requests wait for it to connect (within ``WAIT``).
TAKEOVER = 2 * LEASE
#: How long the old owner lets requests under way on a session finish before it
#: stops the session anyway.
SETTLE = WAIT
#: Bodies up to this size (with a Content-Length, not multipart) are held by the
#: receiving node, so that it can send them again to the new owner.
REPLAYABLE = 1 << 20
#: An answer of this status may be the old owner's ``no_owner``: read to tell.
_NO_OWNER_STATUS = 503
#: Not forwarded: live event streams are the cluster's through the database.
LOCAL_ENDPOINTS = frozenset({"live.session_events"})
#: Routes that name their session in the JSON body (``deviceId``): the seed's send.
BY_BODY = frozenset({"messages.send"})
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
#: Idle connections to a peer expire before the peer's own keep-alive timeout
#: (``keep_alive_timeout``, 5 s by default) closes them: a request sent on one the
#: peer is closing fails, and was answered 503 (1 in ~1,000 forwarded sends in
#: contrib/bench/cluster.py, with httpx's default expiry of 5 s).
LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=32, keepalive_expiry=2.0)
#: The states of a session that has just started here and is still connecting.
_STARTING = frozenset({State.DISCONNECTED, State.CONNECTING})


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


class _Again(Exception):
    """The node asked answered ``no_owner`` before doing anything: ask again."""


class InFlight:
    """The requests this node is answering itself (dispatched to its routes): the
    old owner of a session lets them finish before it stops the session. Not by
    session: a send names its session in its body as often as in its path, and a
    request holds the session only once a service has looked it up. So a handover
    waits for every request under way at its start; each is short (a send, a read)
    or bounded by ``SETTLE``."""

    def __init__(self) -> None:
        self._open: dict[int, trio.Event] = {}
        self._tokens = itertools.count()

    def enter(self) -> int:
        token = next(self._tokens)
        self._open[token] = trio.Event()
        return token

    def leave(self, token: int | None) -> None:
        done = None if token is None else self._open.pop(token, None)
        if done is not None:
            done.set()

    async def settle(self) -> None:
        """Until every request under way now has finished (the caller bounds it)."""
        for done in list(self._open.values()):
            await done.wait()


class Forwarder:
    def __init__(self, daemon: DaemonAPI, database_url: str) -> None:
        self.daemon = daemon
        self.figures = Figures()
        self.inflight = InFlight()
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

    # -- requests answered here --------------------------------------------------------

    def _here(self) -> None:
        """This node answers the request itself: counted until its teardown."""
        g.wad_inflight = self.inflight.enter()

    async def done(self, exc: BaseException | None = None) -> None:
        """The ``teardown_request`` hook (async: Quart runs a sync one in a thread),
        and the start of forwarding after all."""
        self.inflight.leave(g.pop("wad_inflight", None))

    async def settle(self, device_id: str) -> None:
        """The supervisor's ``before_stop``: the session has left the supervisor (no
        new request starts on it); the ones under way finish before it stops."""
        began = trio.current_time()
        with trio.move_on_after(SETTLE) as waited:
            await self.inflight.settle()
        log.info(
            "cluster: %s: the requests under way %s in %.2f s before it stops",
            device_id,
            "did not all finish" if waited.cancelled_caught else "finished",
            trio.current_time() - began,
        )

    # -- the two ways in -------------------------------------------------------------

    async def by_path(self) -> Response | None:
        """The ``before_request`` hook: forward a request whose path names a session
        that runs elsewhere (None: this node answers it)."""
        device_id = (request.view_args or {}).get("device_id")
        if device_id is None and request.endpoint in BY_BODY:
            device_id = await self._named_in_body()
        if not isinstance(device_id, str) or request.endpoint in LOCAL_ENDPOINTS:
            self._here()
            return None
        session = self.daemon.supervisor.get(device_id)
        if session is not None and session.state == State.CONNECTED:
            self._here()
            return None  # runs here: the common case costs one dict look-up
        try:
            validation.device_id(device_id)
        except WadError:
            self._here()
            return None  # the route says why
        forwarded = forwarded_by(request.scope) is not None
        body = None if forwarded else await self._replayable()
        answer = await self._forward(device_id, body, forwarded=forwarded)
        if answer is None:
            self._here()
        return answer

    async def elsewhere(self, exc: OwnedElsewhere) -> Any:
        """The error handler of :class:`OwnedElsewhere` (it answers: an error handler
        that raised would make a 500)."""
        await self.done()  # it holds no session: a handover need not wait for it
        try:
            if forwarded_by(request.scope) is not None:
                raise no_owner(exc.device_id)  # never twice: the forwarder asks again
            if is_multipart(request.content_type or ""):
                raise no_owner(exc.device_id)  # its body is gone; a retry goes by path
            # The send path names a session without reading its row: is it one?
            await self.daemon.services.lookup.row(exc.device_id)  # 404 if none
            body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
            answer = await self._forward(exc.device_id, body, unplaced=True, again_here=True)
            if answer is None:
                raise no_owner(exc.device_id)
            return answer
        except WadError as error:
            answer_body = {"success": False, "error": error.message, "code": error.code}
            return answer_body, error.http_status, error.headers

    async def _named_in_body(self) -> object:
        """The ``deviceId`` of a small JSON body (None if it names none: the route
        then answers as it would)."""
        body = await self._replayable()
        if not body:
            return None
        try:
            found = json.loads(body)
        except ValueError:
            return None
        return found.get("deviceId") if isinstance(found, dict) else None

    async def _replayable(self) -> bytes | None:
        """The body, read now if it is small and whole (Quart keeps it for the route,
        should this node answer after all): b"" for none; None for a stream, which
        is sent on once only, unread."""
        if not _has_body(request.headers):
            return b""
        length = request.headers.get("Content-Length")
        if (
            length is None
            or not length.isdigit()
            or int(length) > REPLAYABLE
            or is_multipart(request.content_type or "")
        ):
            return None
        return await request.get_data(cache=True, as_text=False, parse_form_data=False)

    # -- the way out -------------------------------------------------------------------

    def _settling(self, session: Session | None, route: peers.Route) -> bool:
        """A session this node has claimed and is still starting or connecting."""
        if session is None:
            return True
        return (
            session.state in _STARTING and route.held_for is not None and route.held_for < TAKEOVER
        )

    async def _forward(
        self,
        device_id: str,
        body: bytes | None,
        *,
        unplaced: bool = False,
        forwarded: bool = False,
        again_here: bool = False,
    ) -> Response | None:
        """Forward to the session's owner, waiting up to ``WAIT`` for one; None: this
        node is to answer (it runs the session; or, unless ``unplaced``, the session
        has no ``owners`` row: the route then answers by the store, 404 if none; or
        the request was ``forwarded`` here and another node is the owner now: the
        route answers from the database, or 503 for the forwarder to ask again).
        ``body``: the bytes to send, None for a stream that can go once only.
        ``again_here``: the request was turned away here already (``OwnedElsewhere``):
        if the session now runs here it goes to this node again, over HTTP, as the
        owner's request."""
        deadline = trio.current_time() + WAIT
        while True:
            route = await self._route(device_id)
            if route is None and not unplaced:
                return None
            if route is None:
                route = peers.Route(None, None)  # stored, not placed yet: wait for it
            session = self.daemon.supervisor.get(device_id)
            if route.node_id == self.node_id:
                if not self._settling(session, route):
                    if not again_here:
                        return None
                    url = self.daemon.config.node_url
                    if not url:
                        return None
                    route = peers.Route(self.node_id, url)
                else:
                    route = peers.Route(None, None)  # starting here: wait for it
            elif forwarded:
                return None  # never twice: answered here (from the database, or 503)
            elif session is not None and route.node_id is None:
                return None  # placed here again, not in the database yet: it runs
            if route.node_id is not None and not route.url:
                raise WadError(
                    "unavailable",
                    f"This session runs on node {route.node_id}, which has no node_url",
                )
            # Its owner is about to stop it: a stream waits for the next owner.
            ready = route.node_id is not None and not (route.moving and body is None)
            if ready:
                try:
                    return await self._send(route, body)
                except httpx.ConnectError as exc:
                    # Nothing was sent: the owner is going (its lease will run out).
                    log.info("cluster: node %s unreachable (%s); waiting", route.node_id, exc)
                except _Again:
                    pass  # it let the session go before doing anything: the next owner
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
        content: bytes | AsyncIterator[bytes] | None = body or None
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
        relayed = Headers(
            [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        )
        if upstream.status_code == _NO_OWNER_STATUS and body is not None:
            # The old owner of a session it let go answers this before doing anything.
            try:  # raw, as a relay sends it (no content-encoding undone)
                content = b"".join([chunk async for chunk in upstream.aiter_raw()])
            finally:
                await upstream.aclose()
            if _code(content) == "no_owner":
                raise _Again
            self.figures.forwarded += 1
            return Response(content, status=upstream.status_code, headers=relayed)
        self.figures.forwarded += 1
        response = Response(_relay(upstream), status=upstream.status_code, headers=relayed)
        response.timeout = None  # a download may take long
        return response


def _code(content: bytes) -> object:
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    return answer.get("code") if isinstance(answer, dict) else None


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
    app.teardown_request(forwarder.done)
    # The old owner of a session lets the requests under way finish before it stops it.
    daemon.supervisor.before_stop = forwarder.settle
    app.after_serving(forwarder.close)
    app.config["WAD_FORWARDER"] = forwarder
    return forwarder
