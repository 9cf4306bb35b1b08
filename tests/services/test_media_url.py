"""Media by URL, end to end: a real daemon with the simulator engine fetches from real
loopback servers (http and https), through the address guard, within the size and time
limits; every refusal is its own 4xx with the error envelope and leaves no file."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from conftest import Running, make_config, start_daemon
from media_origin import Origin, chunked, declares, head, png, redirects, serves, start, trickles

from wad.engines.simulator.engine import SimulatorEngine
from wad.services.outbound import MEDIA_LIMITS

TIME_LIMIT = 2.0  # media_fetch_timeout of the daemon that allows loopback


@pytest.fixture(scope="module")
def picture() -> bytes:
    """Random pixels: the bytes are this run's own."""
    return png(320, 240)  # ~230 KB: several chunks on the wire


@pytest.fixture
async def allowed(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    """A daemon whose operator allows media from loopback (127.0.0.0/8) only."""
    config = make_config(
        tmp_path, media_allow_networks="127.0.0.0/8", media_fetch_timeout=TIME_LIMIT
    )
    running = await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))
    yield running
    await running.close()


_keys: dict[int, dict[str, str]] = {}


async def send(wad: Running, media: dict[str, Any], type_: str = "image", **extra: Any):
    """Send a ``type_`` message with ``media`` from dev1 (linked on first use)."""
    if id(wad.daemon) not in _keys:
        _keys.clear()
        _keys[id(wad.daemon)] = {"Authorization": f"Bearer {await wad.connected_key()}"}
    body = {"type": type_, "to": "15550002222", "media": media, **extra}
    return await wad.client.post(
        "/api/sessions/dev1/messages", headers=_keys[id(wad.daemon)], json=body
    )


def media_files(wad: Running) -> list[str]:
    folder = wad.daemon.supervisor.folder("dev1") / "media"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def refused(r, status: int, code: str, *words: str) -> str:
    """The answer is the error envelope with ``status`` and ``code``; returns its text."""
    assert r.status_code == status, r.text
    answer = r.json()
    assert answer["success"] is False
    assert answer.get("code", code) == code  # the envelope's code, where main has it
    for word in words:
        assert word in answer["error"], answer["error"]
    return answer["error"]


# -- what works --------------------------------------------------------------------------


async def test_png_by_url_reaches_the_phone_byte_for_byte(
    allowed: Running, nursery: trio.Nursery, picture: bytes
) -> None:
    origin = await start(nursery, {"/pic.png": serves(picture, "image/png; charset=binary")})
    r = await send(allowed, {"url": f"{origin.url}/pic.png"}, caption="by url")
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "image"
    (got,) = allowed.engine.sent(allowed.daemon.supervisor.folder("dev1"))
    assert got["id"] == r.json()["id"] and got["caption"] == "by url"
    # The mimetype is the server's Content-Type (no mimetype was given), parameters dropped.
    assert got["media"]["mimetype"] == "image/png"
    assert got["media"]["size"] == len(picture)
    assert got["media"]["sha256"] == hashlib.sha256(picture).hexdigest()
    assert Path(got["media"]["path"]).read_bytes() == picture  # what the phone received
    (request,) = origin.requests
    assert request.method == "GET" and request.target == "/pic.png"
    assert request.headers["accept-encoding"] == "identity"
    assert "authorization" not in request.headers
    # Kept as an upload is: one file in the session's media folder, the same bytes.
    (name,) = media_files(allowed)
    folder = allowed.daemon.supervisor.folder("dev1") / "media"
    assert (folder / name).read_bytes() == picture


async def test_the_callers_mimetype_wins_and_the_servers_is_checked(
    allowed: Running, nursery: trio.Nursery, picture: bytes
) -> None:
    origin = await start(
        nursery,
        {
            "/blob": serves(picture, "application/octet-stream"),
            "/page": serves(b"<html></html>", "text/html"),
            "/untyped": serves(picture, None),
        },
    )
    r = await send(allowed, {"url": f"{origin.url}/blob", "mimetype": "image/png"})
    assert r.status_code == 200, r.text
    (got,) = allowed.engine.sent(allowed.daemon.supervisor.folder("dev1"))
    assert got["media"]["mimetype"] == "image/png"
    kept = media_files(allowed)
    r = await send(allowed, {"url": f"{origin.url}/page"})
    refused(r, 400, "bad_request", "Content-Type", "text/html")
    r = await send(allowed, {"url": f"{origin.url}/untyped"})
    refused(r, 400, "bad_request", "no Content-Type", "media.mimetype")
    # A mimetype the type does not take is refused before anything is fetched.
    r = await send(allowed, {"url": f"{origin.url}/blob", "mimetype": "video/mp4"})
    refused(r, 400, "bad_request", "image/png")
    assert [q.target for q in origin.requests] == ["/blob", "/page", "/untyped"]
    assert media_files(allowed) == kept  # nothing left by the refusals


async def test_credentials_in_the_url_go_as_basic_auth_and_are_never_shown(
    allowed: Running, nursery: trio.Nursery, picture: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    origin = await start(nursery, {"/pic.png": serves(picture)})
    port = origin.url.rsplit(":", 1)[1]
    r = await send(allowed, {"url": f"http://ada:s3cret-pw@127.0.0.1:{port}/pic.png?sig=t0ken"})
    assert r.status_code == 200, r.text
    (request,) = origin.requests
    assert (
        request.headers["authorization"] == "Basic " + base64.b64encode(b"ada:s3cret-pw").decode()
    )
    # Refused: the message names the place, never the password or the query.
    r = await send(allowed, {"url": f"http://ada:s3cret-pw@127.0.0.1:{port}/gone?sig=t0ken"})
    text = refused(r, 400, "bad_request", "404", f"http://127.0.0.1:{port}/gone?…")
    assert "s3cret" not in text and "t0ken" not in text and "ada" not in text
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    assert "media by URL refused" in caplog.text  # the refusal was logged


# -- refused by the guard ------------------------------------------------------------------


async def test_private_addresses_and_loopback_names_are_refused_without_the_setting(
    wad: Running, nursery: trio.Nursery, picture: bytes
) -> None:
    origin = await start(nursery, {"/pic.png": serves(picture)})
    port = origin.url.rsplit(":", 1)[1]
    for url, kind in [
        (f"http://127.0.0.1:{port}/pic.png", "loopback"),
        (f"http://localhost:{port}/pic.png", "loopback"),  # a name resolving to loopback
        (f"http://[::1]:{port}/pic.png", "loopback"),
        ("http://10.0.0.1/pic.png", "private"),
        ("http://192.168.1.10/pic.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:127.0.0.1]/pic.png", "loopback"),
        ("https://0.0.0.0/pic.png", "unspecified"),
    ]:
        r = await send(wad, {"url": url})
        text = refused(r, 403, "forbidden", kind, "media_allow_networks")
        assert "localhost resolves to 127.0.0.1" in text or "localhost" not in url
    assert origin.requests == []  # nothing ever reached the server
    assert media_files(wad) == []


async def test_an_allowed_network_opens_only_itself(allowed: Running) -> None:
    for url, kind in [
        ("http://10.0.0.1/pic.png", "private"),
        ("http://[::1]/pic.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ]:
        refused(await send(allowed, {"url": url}), 403, "forbidden", kind)
    assert media_files(allowed) == []


# -- refused by the limits ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
async def test_a_redirect_is_refused_naming_its_target(
    allowed: Running, nursery: trio.Nursery, picture: bytes, status: str
) -> None:
    origin = await start(
        nursery, {"/moved": redirects("/pic.png?x=1", status), "/pic.png": serves(picture)}
    )
    r = await send(allowed, {"url": f"{origin.url}/moved"})
    refused(r, 400, "bad_request", f"redirects ({status[:3]}) to {origin.url}/pic.png?…")
    assert [q.target for q in origin.requests] == ["/moved"]  # the target never fetched
    assert media_files(allowed) == []


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    allowed: Running, nursery: trio.Nursery
) -> None:
    hold = trio.Event()
    origin = await start(nursery, {"/huge.png": declares(MEDIA_LIMITS["image"] + 1, hold)})
    # The server sends headers and then nothing: a fetch that read on would time out
    # (408); the refusal comes from the declared length alone.
    r = await send(allowed, {"url": f"{origin.url}/huge.png"})
    refused(r, 413, "too_large", "16 MiB")
    hold.set()
    await origin.wait_finished("/huge.png")
    assert origin.sent["/huge.png"] == 0
    assert media_files(allowed) == []


async def test_a_chunked_body_over_the_limit_stops_at_the_limit(
    allowed: Running, nursery: trio.Nursery
) -> None:
    limit = MEDIA_LIMITS["sticker"]  # 1 MiB
    offered = 64 * limit
    origin = await start(nursery, {"/endless.webp": chunked(offered)})
    r = await send(allowed, {"url": f"{origin.url}/endless.webp"}, type_="sticker")
    refused(r, 413, "too_large", "1 MiB")
    await origin.wait_finished("/endless.webp")
    # wad hung up once past the limit: the server could not send the rest.
    assert "/endless.webp" in origin.broken
    assert limit < origin.sent["/endless.webp"] < offered
    assert media_files(allowed) == []


async def test_a_slow_body_is_cut_at_the_time_limit(
    allowed: Running, nursery: trio.Nursery
) -> None:
    # One byte every 50 ms: each read is quick, the whole would take 50 s.
    origin = await start(nursery, {"/slow.png": trickles(0.05, 1000)})
    started = trio.current_time()
    r = await send(allowed, {"url": f"{origin.url}/slow.png"})
    took = trio.current_time() - started
    refused(r, 408, "timeout", f"within {TIME_LIMIT:g} s")
    assert TIME_LIMIT <= took < TIME_LIMIT + 5
    await origin.wait_finished("/slow.png")
    assert 0 < origin.sent["/slow.png"] < 1000 and "/slow.png" in origin.broken
    assert media_files(allowed) == []


# -- bad URLs and failing servers ----------------------------------------------------------


async def test_urls_that_are_not_http_are_refused(wad: Running) -> None:
    for url, words in [
        ("ftp://example.org/a.png", ("http or https", "ftp")),
        ("file:///etc/passwd", ("http or https", "file")),
        ("/just/a/path.png", ("http or https",)),
        ("http://", ("no host",)),
        ("http://exa mple.org/a.png", ("spaces",)),
        ("http://example.org:99999/a.png", ("no valid port",)),
        ("http://[::1/a.png", ("not a valid URL",)),
        (42, ("string",)),  # the schema says so first
        ("https://example.org/" + "a" * 5000, ("longer than",)),
    ]:
        refused(await send(wad, {"url": url}), 400, "bad_request", "media.url", *words)
    assert media_files(wad) == []


async def test_failing_servers(allowed: Running, nursery: trio.Nursery, picture: bytes) -> None:
    async def gzipped(origin: Origin, stream: trio.abc.Stream) -> None:
        await stream.send_all(
            head("200 OK", ("Content-Encoding", "gzip"), ("Content-Length", "4"))
            + b"\x1f\x8b\x08\x00"
        )

    async def hangs_up(origin: Origin, stream: trio.abc.Stream) -> None:
        await stream.send_all(
            head("200 OK", ("Content-Length", "100"), ("Content-Type", "image/png"))
        )
        await stream.send_all(b"\x89PNG")

    origin = await start(
        nursery,
        {
            "/error": serves(b"oops", "text/plain", "500 Internal Server Error"),
            "/forbidden": serves(b"no", "text/plain", "403 Forbidden"),
            "/gzip": gzipped,
            "/short": hangs_up,
            "/empty": serves(b"", "image/png"),
        },
    )
    answers = [
        ("/missing", 400, "bad_request", "404 Not Found"),
        ("/forbidden", 400, "bad_request", "403 Forbidden"),
        ("/error", 502, "bad_gateway", "500 Internal Server Error"),
        ("/gzip", 502, "bad_gateway", "gzip"),
        ("/short", 502, "bad_gateway", "failed"),
        ("/empty", 400, "bad_request", "empty"),
    ]
    for path, status, code, words in answers:
        refused(await send(allowed, {"url": origin.url + path}), status, code, words)
    # Nobody listens on this port (the listener is closed again at once).
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    r = await send(allowed, {"url": f"http://127.0.0.1:{port}/pic.png"})
    refused(r, 502, "bad_gateway", "cannot connect")
    assert media_files(allowed) == []


# -- https ---------------------------------------------------------------------------------


async def test_https_with_the_operators_authority(
    allowed: Running,
    nursery: trio.Nursery,
    picture: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system's authorities are used (OpenSSL's, so SSL_CERT_FILE names them): a
    server with a certificate from the test authority works, one from another fails."""
    import ssl

    authority, stranger = trustme.CA(), trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    origins = []
    for ca in (authority, stranger):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        origins.append(await start(nursery, {"/pic.png": serves(picture)}, context))
    trusted, untrusted = origins
    assert trusted.url.startswith("https://")
    r = await send(allowed, {"url": f"{trusted.url}/pic.png"})
    assert r.status_code == 200, r.text
    (got,) = allowed.engine.sent(allowed.daemon.supervisor.folder("dev1"))
    assert Path(got["media"]["path"]).read_bytes() == picture
    kept = media_files(allowed)
    r = await send(allowed, {"url": f"{untrusted.url}/pic.png"})
    refused(r, 502, "bad_gateway", "certificate verify failed")
    assert untrusted.requests == []  # no request went over the unverified connection
    assert media_files(allowed) == kept


# -- the settings --------------------------------------------------------------------------


def test_the_settings_from_the_environment_and_toml_and_checked(tmp_path: Path) -> None:
    from wad.config import ConfigError, load

    env = {"HOME": str(tmp_path), "WAD_MEDIA_ALLOW_NETWORKS": "127.0.0.0/8, 10.1.0.0/16"}
    config = load(env=env)
    assert config.media_allow_networks == ["127.0.0.0/8", "10.1.0.0/16"]
    assert config.media_fetch_timeout == 30.0
    toml = tmp_path / "wad.toml"
    toml.write_text('media_allow_networks = ["192.168.5.0/24"]\nmedia_fetch_timeout = 5\n')
    config = load(env={"HOME": str(tmp_path)}, config_file=toml)
    assert config.media_allow_networks == ["192.168.5.0/24"]
    assert config.media_fetch_timeout == 5.0
    with pytest.raises(ConfigError, match="media_allow_networks: 'nope'"):
        load(env={"HOME": str(tmp_path), "WAD_MEDIA_ALLOW_NETWORKS": "nope"})
    with pytest.raises(ConfigError, match="media_fetch_timeout: must be positive"):
        load(env={"HOME": str(tmp_path), "WAD_MEDIA_FETCH_TIMEOUT": "0"})
