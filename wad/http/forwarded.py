"""The real client behind trusted reverse proxies (``trusted_proxies``).

Behind nginx every connection comes from nginx: without this, every client
shares one address (one throttle bucket, one lock-out, the metrics allow-list
opened to anyone who reaches nginx) and a sign-in over HTTPS looks like plain
HTTP (its cookie loses ``Secure``). So when, and only when, the connection's
peer is in ``trusted_proxies`` (CIDRs; none by default), wad believes what the
proxy wrote:

- the client is the right-most address of the ``X-Forwarded-For`` chain that is
  not itself a trusted proxy (every entry left of it could be forged by the
  client; each trusted hop appends its own peer). Without ``X-Forwarded-For``,
  ``Forwarded`` (RFC 7239) is read the same way, its ``for=`` parameters;
- the scheme is ``X-Forwarded-Proto`` (the entry of the chosen hop when the
  proxies append one per hop, else the right-most: the nearest proxy's), or the
  chosen ``Forwarded`` element's ``proto=``.

``X-Forwarded-For`` is preferred because proxies (nginx's
``$proxy_add_x_forwarded_for`` among them) append to it, while they pass a
client's ``Forwarded`` through untouched: a proxy that writes only
``Forwarded`` must drop a client's ``X-Forwarded-For``.

An ASGI middleware, so that everything above it (``request.remote_addr``,
``request.scheme``: throttling, lock-outs, logs, the metrics allow-list,
cookies) sees the real client, and nothing below it needs to know.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

SCHEMES = ("http", "https")
_PORT = re.compile(r"^(?P<host>[^:]+):\d+$")  # IPv4 with a port
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]+)\](:\d+)?$")  # [IPv6] with a port or not


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def parse_address(text: str) -> Address | None:
    """An address from a header's node (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``,
    quoted or not); None for ``unknown``, obfuscated ids and garbage."""
    node = text.strip().strip('"').strip()
    match = _BRACKETED.match(node) or _PORT.match(node)
    if match:
        node = match.group("host")
    try:
        address = ipaddress.ip_address(node)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated value of every header ``name``, in order."""
    out: list[str] = []
    for key, value in headers:
        if key.lower() == name:
            out.extend(v.strip() for v in value.decode("latin-1").split(","))
    return out


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """``Forwarded`` elements as (for, proto) pairs, in order."""
    pairs = []
    for element in _values(headers, b"forwarded"):
        params: dict[str, str] = {}
        for part in element.split(";"):
            key, sep, value = part.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        pairs.append((params.get("for", ""), params.get("proto", "")))
    return pairs


class Proxies:
    """Who the client is, given the connection's peer and the request's headers."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.trusted = networks(cidrs)

    def is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def client(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
        """The client's address, and the scheme it used (None: the connection's own)."""
        peer_address = parse_address(peer)
        if peer_address is None or not self.is_trusted(peer_address):
            return peer, None  # not from a trusted proxy: every header may be forged
        headers = list(headers)
        hops = _values(headers, b"x-forwarded-for")
        pairs = [] if hops else _forwarded(headers)
        if pairs:
            hops = [node for node, _ in pairs]
            protos = [proto for _, proto in pairs]
        else:
            protos = _values(headers, b"x-forwarded-proto")
        client, index = peer_address, None
        for i in range(len(hops) - 1, -1, -1):
            address = parse_address(hops[i])
            if address is None:
                break  # nothing left of garbage can be believed
            client, index = address, i
            if not self.is_trusted(address):
                break
        proto = ""
        if protos:
            same = index is not None and len(protos) == len(hops)
            proto = protos[index] if same and index is not None else protos[-1]
        proto = proto.lower()
        return str(client), proto if proto in SCHEMES else None


class TrustedProxies:
    """ASGI middleware: the scope's ``client`` and ``scheme`` become the real client's
    when the connection comes from a trusted proxy."""

    def __init__(self, app: ASGIApp, cidrs: Iterable[str]) -> None:
        self.app = app
        self.proxies = Proxies(cidrs)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer:
                address, scheme = self.proxies.client(peer[0], scope["headers"])
                if address != peer[0] or scheme is not None:
                    changed = dict(scope, client=(address, 0))
                    if scheme is not None:
                        secure = scheme == "https"
                        if scope["type"] == "websocket":
                            changed["scheme"] = "wss" if secure else "ws"
                        else:
                            changed["scheme"] = scheme
                    scope = cast(Scope, changed)
        await self.app(scope, receive, send)
