"""The outbound address guard: which addresses, every resolved one, pinned connections."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from fake_dns import resolver
from webhook_receiver import Received, Receiver

from wad.net.guard import AddressRefused, Guard, open_client, parse_networks, refusal


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        # IPv6 forms that carry an IPv4 address are judged by it.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::", "cloud metadata"),
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    reason = Guard().why_refused(address)
    assert reason is not None and f"is a {kind} address" in reason, reason
    with pytest.raises(AddressRefused, match=kind):
        Guard().check(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert Guard().why_refused(address) is None


def test_allowed_networks_open_what_they_contain() -> None:
    guard = Guard(parse_networks("127.0.0.0/8, 10.0.0.0/8 ,fd00::/8"))
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "10.9.8.7", "fd12::1"):
        assert guard.why_refused(address) is None, address
    for address in ("::1", "192.168.1.1", "172.16.0.1", "169.254.1.1"):
        assert guard.why_refused(address) is not None, address


def test_metadata_needs_its_own_entry() -> None:
    wide = Guard(parse_networks(["169.254.0.0/16", "fd00::/8", "0.0.0.0/0"]))
    assert wide.why_refused("169.254.1.1") is None
    assert wide.why_refused("10.0.0.1") is None
    assert "cloud metadata" in (wide.why_refused("169.254.169.254") or "")
    assert "cloud metadata" in (wide.why_refused("fd00:ec2::254") or "")
    exact = Guard(parse_networks("169.254.169.254/32"))
    assert exact.why_refused("169.254.169.254") is None
    assert exact.why_refused("169.254.1.1") is not None


def test_parse_networks() -> None:
    assert parse_networks(None) == () and parse_networks("") == () and parse_networks([]) == ()
    assert [str(n) for n in parse_networks("127.0.0.0/8,::1/128")] == ["127.0.0.0/8", "::1/128"]
    assert [str(n) for n in parse_networks(["10.1.2.3/8"])] == ["10.0.0.0/8"]
    assert [str(n) for n in parse_networks("192.168.1.5")] == ["192.168.1.5/32"]
    for bad in ("nonsense", "127.0.0.0/33", "10.0.0.0/8,, x"):
        with pytest.raises(ValueError, match="is not a network"):
            parse_networks(bad)


async def test_every_resolved_address_is_checked() -> None:
    guard = Guard(
        resolver=resolver(
            {
                "mixed.test": ["93.184.216.34", "10.0.0.5"],
                "public.test": ["93.184.216.34", "2606:4700::1"],
            }
        )
    )
    with pytest.raises(AddressRefused, match=r"mixed.test resolves to 10.0.0.5 is a private"):
        await guard.resolve("mixed.test", 443)
    assert await guard.resolve("public.test", 443) == ["93.184.216.34", "2606:4700::1"]
    with pytest.raises(AddressRefused, match="cannot resolve nowhere.test"):
        await guard.resolve("nowhere.test", 443)


async def test_literals_skip_dns_and_localhost_is_loopback() -> None:
    lookups = resolver({})
    guard = Guard(resolver=lookups)
    assert await guard.resolve("8.8.8.8", 80) == ["8.8.8.8"]
    assert await guard.resolve("[2606:4700::1]", 80) == ["2606:4700::1"]
    assert lookups.lookups == []  # type: ignore[attr-defined]
    with pytest.raises(AddressRefused, match="loopback"):
        await Guard().resolve("localhost", 80)  # the system's resolver
    with pytest.raises(AddressRefused, match="loopback"):
        await Guard().check_url("http://localhost:8080/hook")


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    return receiver


async def test_client_refuses_before_connecting(receiver: Receiver) -> None:
    async with open_client(Guard(), timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(receiver.url + "/hook", content=b"{}")
    refused = refusal(caught.value)
    assert refused is not None and "127.0.0.1 is a loopback address" in str(refused)
    assert receiver.connections == 0


async def test_client_reaches_allowed_network(receiver: Receiver) -> None:
    async with open_client(Guard(parse_networks("127.0.0.0/8")), timeout=5) as client:
        for _ in range(3):
            r = await client.post(receiver.url + "/hook", content=b"{}")
            assert r.status_code == 200
    assert receiver.connections == 1  # one pooled, kept-alive connection


async def test_dns_rebinding_cannot_bypass(receiver: Receiver) -> None:
    """The name answers a public address when checked and loopback when connecting:
    the connection uses its own, checked resolution, so it is refused."""
    port = receiver.url.rsplit(":", 1)[1]
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        await trio.lowlevel.checkpoint()
        return next(answers)

    guard = Guard(resolver=rebinding)
    url = f"http://rebind.test:{port}/hook"
    await guard.check_url(url)  # looks public at configuration time
    async with open_client(guard, timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(url, content=b"{}")
    assert "rebind.test resolves to 127.0.0.1 is a loopback" in str(refusal(caught.value))
    assert receiver.connections == 0


async def test_connects_to_the_checked_address_with_the_host_name(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    names = resolver({"hook.test": ["127.0.0.1"]})
    guard = Guard(parse_networks("127.0.0.0/8"), resolver=names)
    async with open_client(guard, timeout=5) as client:
        r = await client.post(f"http://hook.test:{port}/in", content=b"{}")
    assert r.status_code == 200
    (request,) = receiver.requests
    assert request.headers["host"] == f"hook.test:{port}" and request.target == "/in"
    assert names.lookups == ["hook.test"]  # type: ignore[attr-defined]


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer = lambda n, request: 307
    receiver.extra_headers = [("location", "/elsewhere")]
    async with open_client(Guard(parse_networks("127.0.0.0/8")), timeout=5) as client:
        r = await client.post(receiver.url + "/hook", content=b"{}")
    assert r.status_code == 307
    assert [q.target for q in receiver.requests] == ["/hook"]


def causes(exc: BaseException | None) -> list[BaseException]:
    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=hook.test",
            "-addext",
            "subjectAltName=DNS:hook.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_verifies_the_host_name_and_never_shares_connections(
    nursery: trio.Nursery, certificate: tuple[Path, Path]
) -> None:
    """https to a checked address still sends the name (SNI) and verifies the certificate
    against it; another name on the same address gets its own connection and check."""
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server.sni_callback = lambda sock, name, ctx: sni.append(name)
    receiver = Receiver()
    listeners = await nursery.start(
        partial(trio.serve_ssl_over_tcp, host="127.0.0.1"), receiver.handle, 0, server
    )
    port = listeners[0].transport_listener.socket.getsockname()[1]
    names = resolver({"hook.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    guard = Guard(parse_networks("127.0.0.0/8"), resolver=names)
    trusted = ssl.create_default_context(cafile=str(cert))
    async with open_client(guard, timeout=5, verify=trusted) as client:
        r = await client.post(f"https://hook.test:{port}/hook", content=b"{}")
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(f"https://other.test:{port}/hook", content=b"{}")
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(caught.value))
    assert sni == ["hook.test", "other.test"]
    received: list[Received] = receiver.requests
    assert [q.headers["host"] for q in received] == [f"hook.test:{port}"]
