"""The webhook client over HTTPS against a real TLS receiver on loopback, with a test
certificate authority: SNI and certificate checks against the URL's host name."""

from __future__ import annotations

import ssl
from functools import partial

import pytest
import trio
import trustme
from wad_plugins.webhooks.client import DeliveryError, PostClient
from webhook_receiver import Receiver

from wad.net.guard import Guard, parse_networks

# Names a hosts file would map to this machine (no DNS is asked; the guard still checks
# the address they map to).
HOSTS = {"hooks.wad.test": "127.0.0.1", "other.wad.test": "127.0.0.1"}


async def hosts_file(host: str, port: int) -> list[str]:
    if host not in HOSTS:
        raise OSError(f"unknown host {host}")
    return [HOSTS[host]]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def tls_receiver(
    nursery: trio.Nursery, authority: trustme.CA, cert_for: str
) -> tuple[Receiver, int, list[str | None]]:
    """A receiver whose certificate names ``cert_for``; also the SNI names it was sent."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(cert_for).configure_cert(context)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]
    receiver = Receiver()
    listeners = await nursery.start(
        partial(trio.serve_ssl_over_tcp, receiver.handle, 0, context, host="127.0.0.1")
    )
    return receiver, listeners[0].transport_listener.socket.getsockname()[1], names


def client(trusting: trustme.CA | None) -> PostClient:
    context = ssl.create_default_context()
    if trusting is not None:
        trusting.configure_trust(context)
    return PostClient(
        Guard(parse_networks("127.0.0.0/8"), resolver=hosts_file),
        user_agent="wad-test",
        ssl_context=context,
    )


async def test_https_sends_sni_and_verifies_the_hosts_certificate(
    nursery: trio.Nursery, authority: trustme.CA
) -> None:
    receiver, port, names = await tls_receiver(nursery, authority, "hooks.wad.test")
    posts = client(authority)
    url = f"https://hooks.wad.test:{port}/hook"
    for n in range(2):
        answer = await posts.post(url, f'{{"n":{n}}}'.encode(), [])
        assert answer.status == 200
    await posts.aclose()
    assert names == ["hooks.wad.test"]  # one handshake, the URL's host as SNI
    assert posts.connections_opened == 1
    assert [r.json["n"] for r in receiver.requests] == [0, 1]
    assert receiver.requests[0].headers["host"] == f"hooks.wad.test:{port}"


async def test_https_refuses_a_certificate_for_another_host(
    nursery: trio.Nursery, authority: trustme.CA
) -> None:
    """A trusted certificate, but for another name than the URL's: nothing is sent."""
    receiver, port, names = await tls_receiver(nursery, authority, "other.wad.test")
    posts = client(authority)
    with pytest.raises(DeliveryError, match="TLS: .*Hostname mismatch"):
        await posts.post(f"https://hooks.wad.test:{port}/hook", b"{}", [])
    await posts.aclose()
    assert names == ["hooks.wad.test"]
    assert receiver.requests == []
    # The same server, asked for by the name on its certificate, is fine.
    posts = client(authority)
    assert (await posts.post(f"https://other.wad.test:{port}/hook", b"{}", [])).status == 200
    await posts.aclose()


async def test_https_refuses_an_unknown_authority(
    nursery: trio.Nursery, authority: trustme.CA
) -> None:
    receiver, port, _ = await tls_receiver(nursery, authority, "hooks.wad.test")
    posts = client(None)  # the system's authorities only
    with pytest.raises(DeliveryError, match="TLS: .*certificate verify failed"):
        await posts.post(f"https://hooks.wad.test:{port}/hook", b"{}", [])
    await posts.aclose()
    assert receiver.requests == []
