"""Fetching one file by URL for wad itself (media by URL), within limits the caller sets.

- http and https only. A URL's ``user:password@`` goes out as Basic auth and is
  never shown: :func:`shown` drops it, and the query (signed URLs carry tokens
  there), from every message and log line.
- Through the address guard (:func:`wad.net.guard.open_client`): every address
  the host resolves to is checked, the connection goes to one of those, never to
  a second resolution, and no proxy from the environment is used. https verifies
  the certificate against the URL's host, which is also sent as SNI.
- No redirect is followed: a 3xx is refused with where it pointed, so a public
  URL cannot bounce the fetch to an address the guard would refuse.
- The size limit is checked against ``Content-Length`` before any of the body
  is read, and again while reading: the first chunk past the limit ends the fetch.
- One time limit covers the whole fetch, from resolving the host to the last
  byte, so a server that trickles its body cannot hold a send for longer.
- A compressed body is refused (``Accept-Encoding: identity`` is asked): its
  size on the wire says nothing about its size on disk.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import trio

from wad import __version__
from wad.net.guard import Guard, Unresolvable, open_client, refusal

MAX_URL = 4096
Reason = Literal["url", "redirect", "refused", "too_large", "timeout", "remote"]
_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "identity",
    "User-Agent": f"wad/{__version__} (media by URL)",
}


class FetchError(Exception):
    """The fetch was refused or failed. ``reason``: ``url`` (the URL is not one to
    fetch, or its server answered 4xx), ``redirect``, ``refused`` (the guard refused
    the address), ``too_large``, ``timeout``, ``remote`` (the server failed: 5xx, no
    connection, TLS, a broken answer). The message names no credential."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_url(value: object, field: str = "url") -> httpx.URL:
    """An absolute http(s) URL with a host, or FetchError("url")."""
    if not isinstance(value, str) or not value:
        raise FetchError("url", f"{field} must be an http or https URL")
    if len(value) > MAX_URL:
        raise FetchError("url", f"{field} is longer than {MAX_URL} characters")
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise FetchError("url", f"{field} must not contain spaces or control characters")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise FetchError("url", f"{field} is not a valid URL: {exc}"[:300]) from None
    if url.scheme not in ("http", "https"):
        raise FetchError(
            "url", f"{field} must be an http or https URL, not {url.scheme or 'a path'}"
        )
    if not url.host:
        raise FetchError("url", f"{field} has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise FetchError("url", f"{field} has no valid port: {url.port}")
    return url


def shown(url: httpx.URL) -> str:
    """The URL as messages and logs show it: no user or password, no query."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    query = "?…" if url.query else ""
    return f"{url.scheme}://{host}{port}{url.path}{query}"[:300]


@dataclass(frozen=True, slots=True)
class Body:
    """The answer's headers, checked; ``chunks`` streams its body within the limit."""

    content_type: str | None  # without parameters, lower case; None when not sent
    declared_size: int | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class Fetcher:
    guard: Guard
    timeout: float  # seconds for the whole fetch
    # The authorities https trusts; None: the system's (OpenSSL's default paths,
    # which honour SSL_CERT_FILE and SSL_CERT_DIR), loaded anew for each fetch.
    ssl_context: ssl.SSLContext | None = None

    @asynccontextmanager
    async def open(self, url: httpx.URL, limit: int) -> AsyncIterator[Body]:
        """GET ``url``; yields its checked :class:`Body` once the headers are in.
        The time limit runs until the block ends: read the body inside it."""
        where = shown(url)
        try:
            with trio.fail_after(self.timeout):
                context = self.ssl_context or await trio.to_thread.run_sync(
                    ssl.create_default_context
                )
                client = open_client(
                    self.guard, timeout=self.timeout, max_connections=1, verify=context
                )
                async with client, client.stream("GET", url, headers=_HEADERS) as response:
                    yield _checked(response, url, limit)
        except trio.TooSlowError:
            raise FetchError(
                "timeout", f"{where} did not send the whole media within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise _failure(exc, where) from None


def _checked(response: httpx.Response, url: httpx.URL, limit: int) -> Body:
    where, status = shown(url), response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location")
        target = _location(url, location) if location else "nowhere (no Location)"
        raise FetchError(
            "redirect",
            f"{where} redirects ({status}) to {target}; redirects are not followed: "
            "give the media's own URL",
        )
    if not 200 <= status < 300:
        reason: Reason = "url" if 400 <= status < 500 else "remote"
        raise FetchError(reason, f"{where} answered {status} {response.reason_phrase}".strip())
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError("remote", f"{where} sent a {encoding}-encoded body; wad asks for none")
    declared = response.headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    if size is not None and size > limit:
        raise FetchError("too_large", f"{where} declares {size} bytes, over the {limit} allowed")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return Body(content_type or None, size, _limited(response, where, limit))


def _location(url: httpx.URL, location: str) -> str:
    try:
        return shown(url.join(location))
    except httpx.InvalidURL:
        return "an invalid Location"


async def _limited(response: httpx.Response, where: str, limit: int) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:
            raise FetchError("too_large", f"{where} sent more than the {limit} bytes allowed")
        yield chunk


def _failure(exc: httpx.HTTPError, where: str) -> FetchError:
    refused = refusal(exc)
    if isinstance(refused, Unresolvable):
        return FetchError("url", str(refused))
    if refused is not None:
        return FetchError("refused", str(refused))
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("timeout", f"{where} timed out")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError("url", f"{where} cannot be fetched: {exc}"[:300])
    if isinstance(exc, httpx.ConnectError):
        return FetchError("remote", f"cannot connect to {where}: {_why(exc)}"[:300])
    return FetchError("remote", f"{where} failed: {_why(exc)}"[:300])


def _why(exc: BaseException) -> str:
    """The most telling text behind an httpx error (a TLS failure's is in its cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return f"TLS: {seen}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__
