"""Behind a reverse proxy: forwarded headers are believed from trusted proxies only.

A real daemon on loopback; the test's client plays the proxy (its peer address is
127.0.0.1), trusted in some tests and not in others, and forges the headers a
client behind it could send.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from conftest import ADMIN_TOKEN, Running, make_config, start_daemon

from wad.config import ConfigError, load
from wad.engines.simulator.engine import SimulatorEngine
from wad.http.forwarded import Proxies

OUTSIDE = "203.0.113.9"  # an attacker on the internet
ALLOWED = "198.51.100.7"  # a scraper the operator allowed


async def daemon(tmp_path: Path, nursery: trio.Nursery, **settings: object) -> Running:
    return await start_daemon(nursery, make_config(tmp_path, **settings), SimulatorEngine())


async def sign_in(wad: Running, headers: dict[str, str]) -> str:
    r = await wad.client.post(
        "/api/dashboard/login",
        json={"token": ADMIN_TOKEN},
        headers={"X-Wad-Dashboard": "1", **headers},
    )
    assert r.status_code == 200, r.text
    wad.client.cookies.clear()
    return r.headers["set-cookie"].lower()


async def test_forged_headers_from_an_untrusted_peer_are_ignored(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    # Trusted proxies exist, but the peer (127.0.0.1) is not one of them.
    wad = await daemon(
        tmp_path, nursery, trusted_proxies="10.0.0.0/8", metrics_allow=f"{ALLOWED}/32"
    )
    for forged in (
        {"X-Forwarded-For": ALLOWED},
        {"Forwarded": f"for={ALLOWED};proto=https"},
        {"X-Forwarded-For": f"{ALLOWED}, 10.0.0.1"},
    ):
        assert (await wad.client.get("/metrics", headers=forged)).status_code == 401
    cookie = await sign_in(wad, {"X-Forwarded-Proto": "https", "Forwarded": "proto=https"})
    assert "secure" not in cookie
    await wad.close()


async def test_a_trusted_proxy_is_believed(tmp_path: Path, nursery: trio.Nursery) -> None:
    wad = await daemon(
        tmp_path, nursery, trusted_proxies="127.0.0.1", metrics_allow=f"{ALLOWED}/32"
    )
    get = wad.client.get
    # The right-most address that is not a trusted proxy is the client ...
    assert (await get("/metrics", headers={"X-Forwarded-For": ALLOWED})).status_code == 200
    chain = f"{OUTSIDE}, {ALLOWED}, 127.0.0.1"  # the client, then another trusted hop
    assert (await get("/metrics", headers={"X-Forwarded-For": chain})).status_code == 200
    assert (await get("/metrics", headers={"Forwarded": f'for="{ALLOWED}"'})).status_code == 200
    # ... and what a client wrote left of itself is not believed.
    forged = {"X-Forwarded-For": f"{ALLOWED}, {OUTSIDE}"}
    assert (await get("/metrics", headers=forged)).status_code == 401
    forged = {"Forwarded": f"for={ALLOWED}, for={OUTSIDE}"}
    assert (await get("/metrics", headers=forged)).status_code == 401
    # X-Forwarded-For (which nginx appends to) wins over a Forwarded it passes through.
    forged = {"X-Forwarded-For": OUTSIDE, "Forwarded": f"for={ALLOWED}"}
    assert (await get("/metrics", headers=forged)).status_code == 401
    # The proxy's own requests are its own.
    assert (await get("/metrics")).status_code == 401
    # HTTPS at the proxy: the sign-in cookie is Secure; plain HTTP: it is not.
    assert "secure" in await sign_in(wad, {"X-Forwarded-Proto": "https"})
    assert "secure" in await sign_in(wad, {"Forwarded": "for=192.0.2.1;proto=https"})
    assert "secure" not in await sign_in(wad, {"X-Forwarded-Proto": "http"})
    assert "secure" not in await sign_in(wad, {})
    await wad.close()


async def test_behind_the_proxy_loopback_is_not_everyone(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The issue's case: WAD_METRICS_ALLOW=127.0.0.1 behind nginx on the same host."""
    wad = await daemon(tmp_path, nursery, trusted_proxies="127.0.0.1", metrics_allow="127.0.0.1")
    assert (await wad.client.get("/metrics")).status_code == 200  # a local scrape
    proxied = {"X-Forwarded-For": OUTSIDE, "X-Forwarded-Proto": "https"}
    assert (await wad.client.get("/metrics", headers=proxied)).status_code == 401
    await wad.close()


async def test_each_client_behind_the_proxy_has_its_own_budget(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, trusted_proxies="127.0.0.0/8")
    config.plugin_settings["ratelimit"]["per_minute"] = 5
    wad = await start_daemon(nursery, config, SimulatorEngine())
    noisy = {"X-Forwarded-For": OUTSIDE}
    statuses = [
        (await wad.client.get("/api/sessions", headers=noisy)).status_code for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    other = {"X-Forwarded-For": "192.0.2.44"}
    assert (await wad.client.get("/api/sessions", headers=other)).status_code == 401
    await wad.close()


@pytest.mark.parametrize(
    ("peer", "headers", "client", "scheme"),
    [
        ("127.0.0.1", [], "127.0.0.1", None),
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.9")], "203.0.113.9", None),
        ("192.0.2.1", [("X-Forwarded-For", "203.0.113.9")], "192.0.2.1", None),  # untrusted
        ("127.0.0.1", [("X-Forwarded-For", "1.1.1.1, 203.0.113.9")], "203.0.113.9", None),
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")],
            "2.2.2.2",
            None,
        ),
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.9, 10.1.2.3")], "203.0.113.9", None),
        ("127.0.0.1", [("X-Forwarded-For", "10.1.2.3, 10.1.2.4")], "10.1.2.3", None),  # all trusted
        ("127.0.0.1", [("X-Forwarded-For", "garbage, 203.0.113.9")], "203.0.113.9", None),
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.9, garbage")], "127.0.0.1", None),
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.9:4711")], "203.0.113.9", None),
        ("127.0.0.1", [("X-Forwarded-For", "[2001:db8::1]:4711")], "2001:db8::1", None),
        ("127.0.0.1", [("X-Forwarded-For", "2001:db8::1")], "2001:db8::1", None),
        ("::ffff:127.0.0.1", [("X-Forwarded-For", "203.0.113.9")], "203.0.113.9", None),
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Proto", "https")],
            "1.1.1.1",
            "https",
        ),
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Proto", "HTTPS")],
            "1.1.1.1",
            "https",
        ),
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Proto", "gopher")],
            "1.1.1.1",
            None,
        ),
        ("127.0.0.1", [("X-Forwarded-Proto", "https")], "127.0.0.1", "https"),  # no hop named
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.1.1.1, 10.0.0.2"), ("X-Forwarded-Proto", "https, http")],
            "1.1.1.1",
            "https",
        ),
        (
            "127.0.0.1",
            [("Forwarded", 'for="[2001:db8::2]:80";proto=https')],
            "2001:db8::2",
            "https",
        ),
        (
            "127.0.0.1",
            [("Forwarded", "for=1.1.1.1;proto=http, for=10.0.0.9;proto=https")],
            "1.1.1.1",
            "http",
        ),
        ("127.0.0.1", [("Forwarded", "for=unknown")], "127.0.0.1", None),
        ("127.0.0.1", [("Forwarded", "for=_hidden, for=1.1.1.1")], "1.1.1.1", None),
    ],
)
def test_the_chain_is_read_from_the_right(
    peer: str, headers: list[tuple[str, str]], client: str, scheme: str | None
) -> None:
    proxies = Proxies(["127.0.0.1", "10.0.0.0/8"])
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    assert proxies.client(peer, raw) == (client, scheme)


def test_a_bad_proxy_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load({"trusted_proxies": "127.0.0.1,nginx"}, env={})
    assert load({}, env={"WAD_TRUSTED_PROXIES": "127.0.0.1, ::1"}).trusted_proxies == [
        "127.0.0.1",
        "::1",
    ]
