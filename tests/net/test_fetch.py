"""wad.net.fetch on its own, against real loopback servers: names resolved once through
the guard (every address checked, the connection to a checked one), TLS against the
URL's host with SNI, and what messages show of a URL."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trio
import trustme
from fake_dns import resolver
from media_origin import png, serves, start

from wad.net.fetch import Fetcher, FetchError, parse_url, shown
from wad.net.guard import Guard, parse_networks

PICTURE = png(64, 48)


def fetcher(table: dict[str, list[str]], context: ssl.SSLContext | None = None):
    resolve = resolver(table)
    guard = Guard(parse_networks("127.0.0.0/8"), resolver=resolve)
    return Fetcher(guard, timeout=5.0, ssl_context=context), resolve.lookups  # type: ignore[attr-defined]


async def fetch_all(using: Fetcher, url: str, limit: int = 1 << 20) -> tuple[str | None, bytes]:
    async with using.open(parse_url(url), limit) as body:
        return body.content_type, b"".join([chunk async for chunk in body.chunks])


async def test_a_name_is_resolved_once_and_the_checked_address_connected(
    nursery: trio.Nursery,
) -> None:
    origin = await start(nursery, {"/pic.png": serves(PICTURE)})
    port = origin.url.rsplit(":", 1)[1]
    using, lookups = fetcher({"media.wad.test": ["127.0.0.1"]})
    content_type, data = await fetch_all(using, f"http://media.wad.test:{port}/pic.png")
    assert (content_type, data) == ("image/png", PICTURE)
    assert lookups == ["media.wad.test"]  # one resolution: no second lookup to rebind
    assert origin.requests[0].headers["host"] == f"media.wad.test:{port}"


async def test_every_resolved_address_is_checked(nursery: trio.Nursery) -> None:
    origin = await start(nursery, {"/pic.png": serves(PICTURE)})
    port = origin.url.rsplit(":", 1)[1]
    # One allowed address and one private one: the host is refused as a whole.
    using, _ = fetcher({"mixed.wad.test": ["127.0.0.1", "10.0.0.1"]})
    with pytest.raises(FetchError) as caught:
        await fetch_all(using, f"http://mixed.wad.test:{port}/pic.png")
    assert caught.value.reason == "refused"
    assert "mixed.wad.test resolves to 10.0.0.1 is a private address" in caught.value.message
    assert origin.requests == []


async def test_a_name_that_does_not_resolve_is_the_urls_fault() -> None:
    using, lookups = fetcher({})
    with pytest.raises(FetchError) as caught:
        await fetch_all(using, "http://nowhere.wad.test/pic.png")
    assert caught.value.reason == "url" and "cannot resolve nowhere.wad.test" in str(caught.value)
    assert lookups == ["nowhere.wad.test"]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def tls_origin(nursery: trio.Nursery, authority: trustme.CA, name: str):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    return await start(nursery, {"/pic.png": serves(PICTURE)}, context)


def trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


async def test_https_sends_the_urls_host_as_sni_and_verifies_it(
    nursery: trio.Nursery, authority: trustme.CA
) -> None:
    origin = await tls_origin(nursery, authority, "media.wad.test")
    port = origin.url.rsplit(":", 1)[1]
    table = {"media.wad.test": ["127.0.0.1"], "other.wad.test": ["127.0.0.1"]}
    using, _ = fetcher(table, trusting(authority))
    _, data = await fetch_all(using, f"https://media.wad.test:{port}/pic.png")
    assert data == PICTURE and origin.snis == ["media.wad.test"]
    # The same server under another name: its certificate does not name it.
    with pytest.raises(FetchError) as caught:
        await fetch_all(using, f"https://other.wad.test:{port}/pic.png")
    assert caught.value.reason == "remote"
    assert "TLS:" in caught.value.message and "Hostname mismatch" in caught.value.message
    assert origin.snis == ["media.wad.test", "other.wad.test"]
    assert len(origin.requests) == 1  # nothing was asked over the refused connection


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ada:pw@example.org/a/b.png?sig=1#x", "https://example.org/a/b.png?…"),
        ("http://example.org:8080/a.png", "http://example.org:8080/a.png"),
        ("https://example.org:443/a.png", "https://example.org/a.png"),
        ("http://[::1]:81/", "http://[::1]:81/"),
    ],
)
def test_shown_drops_credentials_and_query(url: str, expected: str) -> None:
    assert shown(httpx.URL(url)) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://example.org/a", "not ftp"),
        ("javascript:alert(1)", "not javascript"),
        ("//example.org/a.png", "not a path"),
        ("http://", "no host"),
        ("http://a b/", "spaces"),
        ("http://example.org/\x00", "control characters"),
        ("http://example.org:0/", "no valid port"),
        (None, "http or https"),
    ],
)
def test_parse_url_refuses(value: object, words: str) -> None:
    with pytest.raises(FetchError, match=words) as caught:
        parse_url(value)
    assert caught.value.reason == "url"
