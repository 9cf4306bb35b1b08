"""A cluster node's control socket acts on every session of the cluster: a method
that finds its session running on another node (:class:`OwnedElsewhere`) is relayed
to that node, which runs it as its own control socket would, and its answer comes
back as if this node had given it.

The way there is HTTP, to the owner's registered URL (``nodes``, never a URL from
the request), ``POST /api/cluster/control``, with the control line as the body.
Two proofs that the order comes from a node of this cluster, both keyed with
``cluster_secret``: the forwarding header (:data:`wad.cluster.peers.HEADER`: this
path, this time), and :data:`BODY_HEADER`, a MAC of the body and the time (the
first does not cover a body, and here the body is the order). The owner runs the
method with its own table, which relays nothing: a session that moved meanwhile
answers ``unavailable`` there, never a loop. What stays local: ``events.subscribe``
(the streams are the cluster's already) and every method that names no session
(``status``, ``reload``, ``log_level.set``, ...: they are this node's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import psycopg

from wad.cluster import peers
from wad.cluster.timing import LEASE
from wad.control.protocol import ERROR_CODES, ControlError, Method
from wad.engines.wire import encode
from wad.services.lookup import OwnedElsewhere

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)

PATH = "/api/cluster/control"
BODY_HEADER = "X-Wad-Control"
#: Who the owner is told the client is (no address: the operator is on this node).
CLIENT = "control-socket"
TIMEOUT = httpx.Timeout(connect=2.0, read=60.0, write=10.0, pool=5.0)


class Relay:
    def __init__(self, daemon: DaemonAPI, database_url: str) -> None:
        config = daemon.config
        self.node_id = config.node
        self.secret = config.cluster_secret
        self.directory = peers.Directory(database_url, self.node_id, LEASE, size=1)
        self._client: httpx.AsyncClient | None = None

    async def call(self, method: str, params: Mapping[str, Any], device_id: str) -> Any:
        """``method`` with ``params`` on the node that runs ``device_id``: its result,
        or its error raised as a :class:`ControlError`."""
        try:
            route = await self.directory.route(device_id)
        except psycopg.Error as exc:
            log.warning("cluster: cannot read where %s runs: %s", device_id, exc)
            raise ControlError(
                "unavailable", "This node cannot reach the cluster's database; try again shortly"
            ) from None
        if route is None or route.node_id is None:
            raise ControlError(
                "no_owner",
                f"Session {device_id} runs on no node right now (failing over, or being"
                " moved); try again shortly",
            )
        if route.node_id == self.node_id:  # claimed here a moment ago, not running yet
            raise ControlError(
                "unavailable", f"Session {device_id} is starting on this node; try again shortly"
            )
        if not route.url or not self.secret:
            raise ControlError(
                "unavailable",
                f"Session {device_id} runs on node {route.node_id}, which this node cannot"
                " reach (no node_url, or no cluster_secret here)",
            )
        body = encode({"id": None, "method": method, "params": dict(params)})
        now = time.time()
        headers = {
            peers.HEADER: peers.sign(self.secret, self.node_id, "POST", PATH, CLIENT, "http", now),
            BODY_HEADER: peers.sign_body(self.secret, body, now),
            "Content-Type": "application/json",
        }
        url = route.url.rstrip("/") + PATH
        try:
            answer = await self.client().post(url, content=body, headers=headers)
            reply = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cluster: relaying %s to node %s failed: %s", method, route.node_id, exc)
            reply = None
        if not isinstance(reply, dict):
            raise ControlError(
                "unavailable",
                f"Session {device_id} runs on node {route.node_id}, which did not answer;"
                " try again shortly",
            )
        error = reply.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            raise ControlError(
                code if isinstance(code, str) and code in ERROR_CODES else "internal",
                str(error.get("message", "")),
            )
        return reply.get("result")

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        self.directory.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def relaying(table: Mapping[str, Method], relay: Relay) -> dict[str, Method]:
    """The method table, each method relayed when its session runs on another node."""
    return {name: _relayed(name, method, relay) for name, method in table.items()}


def _relayed(name: str, method: Method, relay: Relay) -> Method:
    async def run(params: dict[str, Any]) -> Any:
        given = dict(params)  # as the client sent them, whatever the method makes of them
        try:
            return await method(params)
        except OwnedElsewhere as exc:
            return await relay.call(name, given, exc.device_id)

    return run
