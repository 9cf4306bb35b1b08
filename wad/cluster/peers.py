"""Between nodes: where a session runs, and the proof that a request comes from a
node of this cluster (the ``X-Wad-Cluster`` header).

A node forwards a request for a session it does not run to the session's owner, at
the URL the owner registered in ``nodes`` (never anywhere else: a URL from a
request is never followed). The owner believes what the forwarding node says of the
original client (its address, the scheme it used) only under a valid header:

    X-Wad-Cluster: v1 <unix time> <client address> <scheme> <node id> <hex MAC>

the MAC an HMAC-SHA256, keyed with ``cluster_secret``, of the version, the time,
the client, the scheme, the node id, the method and the raw target (path and query).
So a header cannot be moved to another request line nor given another client, and
it expires ``SKEW`` seconds either side of its time (the nodes' clocks are assumed
within that of each other, as NTP keeps them). The body is not covered: a header
caught on the wire could carry another body within ``SKEW``; the nodes' network is
trusted that far (put TLS in front of the node URLs where it is not).

A request that carries a valid header is never forwarded again (no loops, however
stale a node's view of the owners).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, unquote

from wad.store.postgres.connect import connect
from wad.store.postgres.pool import Pool

from .connection import Conn

HEADER = "X-Wad-Cluster"
VERSION = "v1"
#: How far a header's time may be from the receiving node's clock, in seconds.
SKEW = 30.0


@dataclass(frozen=True)
class Claim:
    """What a valid header says: who forwarded it, and for which client."""

    node_id: str
    client: str
    scheme: str


def _mac(secret: str, fields: tuple[str, ...], method: str, target: str) -> str:
    message = "\n".join((*fields, method.upper(), target)).encode("utf-8", "surrogateescape")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(
    secret: str, node_id: str, method: str, target: str, client: str, scheme: str, now: float
) -> str:
    """The header's value for a request (``target``: the raw path and query)."""
    fields = (VERSION, str(int(now)), quote(client, safe=""), scheme, quote(node_id, safe=""))
    return " ".join((*fields, _mac(secret, fields, method, target)))


def verify(secret: str, value: str, method: str, target: str, now: float) -> Claim | None:
    """The claim of a header, or None when it is not valid (wrong secret, another
    request's, expired, malformed). The MAC is compared in constant time."""
    parts = value.split(" ")
    if len(parts) != 6 or parts[0] != VERSION:
        return None
    fields, mac = tuple(parts[:5]), parts[5]
    if not hmac.compare_digest(mac.encode(), _mac(secret, fields, method, target).encode()):
        return None
    try:
        stamp = int(fields[1])
    except ValueError:
        return None
    if abs(now - stamp) > SKEW:
        return None
    if fields[3] not in ("http", "https"):
        return None
    return Claim(unquote(fields[4]), unquote(fields[2]), fields[3])


def sign_body(secret: str, body: bytes, now: float) -> str:
    """A MAC of a request's body and time, for the requests whose body is the order
    itself (the control relay, :mod:`wad.control.relay`): what ``HEADER`` leaves
    uncovered. ``<unix time> <hex MAC>``."""
    stamp = str(int(now))
    mac = hmac.new(secret.encode(), b"body\n" + stamp.encode() + b"\n" + body, hashlib.sha256)
    return f"{stamp} {mac.hexdigest()}"


def verify_body(secret: str, value: str, body: bytes, now: float) -> bool:
    """Whether ``value`` is :func:`sign_body`'s for this body, within ``SKEW``."""
    parts = value.split(" ")
    if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 12):
        return False
    expected = sign_body(secret, body, float(parts[0])).split(" ")[1]
    if not hmac.compare_digest(parts[1].encode(), expected.encode()):
        return False
    return abs(now - int(parts[0])) <= SKEW


@dataclass(frozen=True)
class Route:
    """Where a session runs by the database: its owner and the URL the owner
    registered (None: no live owner: its node died and the lease ran out, a handover
    is under way, or it was not placed yet)."""

    node_id: str | None
    url: str | None
    #: A planned handover of it was asked (``wadctl move``, a drain): its owner is
    #: about to stop it.
    moving: bool = False
    #: Seconds since its owner took it (by the server's clock; None: no owner).
    held_for: float | None = None


def route(conn: Conn, device_id: str, lease: float) -> Route | None:
    """The session's route (None: no ``owners`` row, which the daemon then judges by
    its store: not a session at all, or one not placed yet). An owner whose heartbeat
    is older than the lease by the server's clock runs nothing: it has fenced."""
    row = conn.execute(
        """SELECT o.node_id, n.url, n.node_id IS NOT NULL, o.move_to IS NOT NULL,
            extract(epoch FROM now() - o.since)::float8 FROM owners o
        LEFT JOIN nodes n ON n.node_id = o.node_id
            AND n.seen_at > now() - make_interval(secs => %s)
        WHERE o.device_id = %s""",
        (lease, device_id),
    ).fetchone()
    if row is None:
        return None
    node, url, live, moving, held_for = row
    if node is None or not live:
        return Route(None, None)
    # A live owner without a node_url (a node alone) is still the owner.
    return Route(node, url or None, bool(moving), held_for)


class Directory:
    """Routes read on connections of its own (a request's look-up waits neither
    behind the store's work nor on the lock connection, which carries the
    heartbeat), from worker threads, at most ``size`` at once."""

    def __init__(self, database_url: str, node_id: str, lease: float, size: int = 2) -> None:
        self.lease = lease
        self._pool: Pool[Conn] = Pool(
            lambda: connect(database_url, f"{node_id} routes"),
            size,
            broken=lambda conn: conn.closed or conn.broken,
            close=lambda conn: conn.close(),
        )

    async def route(self, device_id: str) -> Route | None:
        lease = self.lease
        return await self._pool.call(lambda conn: route(conn, device_id, lease))

    def close(self) -> None:
        self._pool.close()
