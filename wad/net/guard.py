"""The outbound address guard: where wad's own HTTP requests (webhooks, media by URL) may go.

A request may only reach public addresses. Loopback, private, link-local,
carrier-grade NAT, multicast, unspecified and reserved addresses are refused,
and so are the cloud metadata services (169.254.169.254, fd00:ec2::254), unless
the operator allows a network that contains the address (``allow``, e.g.
``127.0.0.0/8`` for a receiver on the same machine). A metadata address needs
its own single-address entry (``169.254.169.254/32``): allowing a wider network
does not open it. IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``,
NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that IPv4 address too.

Every address a host name resolves to is checked (one bad address refuses the
host), and the connection then goes to one of those checked addresses, never to
a second resolution: :class:`GuardedBackend` does the resolving, checking and
connecting in one step inside httpx's connection pool, so DNS rebinding (a
name that answers a public address to the check and a private one to the
connect) cannot get through. Because the URL keeps its host name, TLS sends it
as SNI and verifies the certificate against it, and the pool never shares a
connection between two host names that resolve to one address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx
import trio

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

_KINDS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("fc00::/7", "private"),
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The target's address is not one that wad may connect to; the message says why."""


class Unresolvable(AddressRefused):
    """The target's host name has no address (the name is wrong, or DNS failed)."""


def parse_networks(value: object) -> tuple[IPNetwork, ...]:
    """Allowed networks from a comma-separated string or a list of CIDRs."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ValueError("expected a comma-separated list of networks, such as 127.0.0.0/8")
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not a network such as 127.0.0.0/8 or ::1/128") from None
    return tuple(networks)


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _kind(ip: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if ip in METADATA:
        return "cloud metadata"
    for network, kind in _KINDS:
        if ip in network:
            return kind
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved or ip.is_private or not ip.is_global:
        return "reserved"
    return None


class Guard:
    """Which addresses outbound requests may reach; ``allow`` may be replaced on reload."""

    def __init__(self, allow: Sequence[IPNetwork] = (), resolver: Resolver | None = None) -> None:
        self.allow = tuple(allow)
        self._resolver = resolver or _getaddrinfo

    def _allowed(self, ip: IPAddress) -> bool:
        if ip in METADATA:
            return any(net.num_addresses == 1 and ip in net for net in self.allow)
        return any(ip in net for net in self.allow)

    def why_refused(self, address: str | IPAddress) -> str | None:
        """None when the address may be reached, else the reason in a sentence."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%")[0])
        v4 = _embedded_v4(ip)  # None for an IPv4 address
        # A mapped or NAT64 address is the IPv4 host it names; 6to4 is judged as both.
        names_v4 = isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip in _NAT64)
        judged: list[IPAddress] = [v4] if v4 is not None and names_v4 else [ip]
        if v4 is not None and v4 not in judged:
            judged.append(v4)
        for candidate in judged:
            kind = _kind(candidate)
            if kind is not None and not self._allowed(candidate):
                shown = f"{ip} ({candidate})" if candidate != ip else str(ip)
                return (
                    f"{shown} is a {kind} address; wad refuses to connect to it "
                    "unless its network is allowed"
                )
        return None

    def check(self, address: str | IPAddress) -> None:
        reason = self.why_refused(address)
        if reason is not None:
            raise AddressRefused(reason)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, each checked; AddressRefused when one is refused,
        Unresolvable (an AddressRefused) when the name does not resolve."""
        try:
            return [_checked(self, host)]  # an address literal: no DNS
        except ValueError:
            pass
        try:
            addresses = await self._resolver(host, port)
        except OSError as exc:
            raise Unresolvable(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise Unresolvable(f"cannot resolve {host}: no addresses")
        for address in addresses:
            reason = self.why_refused(address)
            if reason is not None:
                raise AddressRefused(f"{host} resolves to {reason}")
        return list(dict.fromkeys(addresses))

    async def check_url(self, url: str) -> None:
        """Resolve and check a URL's host now (when a target is configured)."""
        parsed = httpx.URL(url)
        await self.resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))


def _checked(guard: Guard, host: str) -> str:
    ip = ipaddress.ip_address(host.strip("[]"))  # ValueError for a name
    guard.check(ip)
    return str(ip)


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def refusal(exc: BaseException) -> AddressRefused | None:
    """The guard's refusal behind an httpx error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend, connecting only to addresses the guard has just checked."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with trio.move_on_after(float("inf") if timeout is None else timeout) as scope:
            try:
                addresses = await self.guard.resolve(host, port)
            except AddressRefused as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an outbound target")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on a :class:`GuardedBackend`."""

    def __init__(
        self, guard: Guard, limits: httpx.Limits = httpx.Limits(), verify: Any = True
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx offers no public way to choose the pool's network backend; its
        # transport keeps the pool in ``_pool`` (stable since httpx 0.18).
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version has no AsyncHTTPTransport._pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def open_client(
    guard: Guard, *, timeout: float, max_connections: int = 100, verify: Any = True, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client that reaches only what ``guard`` allows and follows no redirects.

    Environment proxies are ignored (``trust_env=False``): a proxy would make
    the checked address the proxy's, not the target's. httpx's line per request
    is not logged: target URLs may carry credentials (a media URL's user and
    password), and there may be thousands a second. The daemon's log setup
    (:mod:`wad.runtime.logs`) says so too, for every client; this client says it
    again, for a process whose logging someone else set up.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(guard, limits, verify),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )
