"""Dashboard sign-in: the cookie, what it grants, CSRF refusals, sign-out; the page."""

from __future__ import annotations

import hashlib
import re

import httpx
from conftest import ADMIN_TOKEN, Running

from wad.auth.logins import DashboardLogins

DASH = {"X-Wad-Dashboard": "1"}


async def sign_in(wad: Running) -> str:
    r = await wad.client.post("/api/dashboard/login", json={"token": ADMIN_TOKEN}, headers=DASH)
    assert r.status_code == 200, r.text
    return r.cookies["wad_dashboard"]


def cookie(login_id: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"wad_dashboard={login_id}", **extra}


async def test_login_sets_an_opaque_httponly_strict_cookie(wad: Running) -> None:
    r = await wad.client.post("/api/dashboard/login", json={"token": ADMIN_TOKEN}, headers=DASH)
    assert r.status_code == 200
    assert r.json()["success"] is True and r.json()["expiresAt"].endswith("Z")
    set_cookie = r.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in set_cookie.lower()
    assert "secure" not in attributes  # plain http on loopback; Secure over https
    value = r.cookies["wad_dashboard"]
    assert len(value) >= 40 and ADMIN_TOKEN not in value
    assert r.headers["cache-control"] == "no-store"


async def test_wrong_or_missing_token_is_refused_clearly(wad: Running) -> None:
    r = await wad.client.post("/api/dashboard/login", json={"token": "nope"}, headers=DASH)
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "Wrong admin token", "code": "unauthorized"}
    assert "set-cookie" not in r.headers
    r = await wad.client.post("/api/dashboard/login", json={}, headers=DASH)
    assert r.status_code == 400 and "token" in r.json()["error"]
    # A login form posted from another site carries no custom header.
    r = await wad.client.post("/api/dashboard/login", json={"token": ADMIN_TOKEN})
    assert r.status_code == 403 and "X-Wad-Dashboard" in r.json()["error"]


async def test_cookie_grants_admin_reads_and_guarded_writes(wad: Running) -> None:
    login_id = await sign_in(wad)
    client = httpx.AsyncClient(base_url=wad.url)  # no cookie jar of its own in play
    async with client:
        assert (await client.get("/api/sessions")).status_code == 401
        r = await client.get("/api/sessions", headers=cookie(login_id))
        assert r.status_code == 200 and r.json()["sessions"] == []
        r = await client.get("/api/sessions", headers=cookie("forged-value"))
        assert r.status_code == 401
        # State-changing requests by cookie need the dashboard header (CSRF) ...
        r = await client.post("/api/sessions", json={"deviceId": "d1"}, headers=cookie(login_id))
        assert r.status_code == 403 and "X-Wad-Dashboard" in r.json()["error"]
        # ... and, when the browser names an origin, this one.
        r = await client.post(
            "/api/sessions",
            json={"deviceId": "d1"},
            headers=cookie(login_id, Origin="http://evil.example", **DASH),
        )
        assert r.status_code == 403 and "cross-site" in r.json()["error"]
        assert (await client.get("/api/sessions/d1", headers=wad.admin)).status_code == 404
        r = await client.post(
            "/api/sessions",
            json={"deviceId": "d1"},
            headers=cookie(login_id, Origin=wad.url, **DASH),
        )
        assert r.status_code == 201
        # The cookie is the admin: it cannot send with a session's key either.
        r = await client.post(
            "/api/messages/send",
            headers=cookie(login_id, **DASH),
            json={"deviceId": "d1", "number": "15550002222", "message": "x"},
        )
        assert r.status_code == 403


async def test_logout_ends_the_login_and_clears_the_cookie(wad: Running) -> None:
    login_id = await sign_in(wad)
    async with httpx.AsyncClient(base_url=wad.url) as client:
        r = await client.post("/api/dashboard/logout", headers=cookie(login_id))
        assert r.status_code == 403  # sign-out is guarded like any other change
        r = await client.post("/api/dashboard/logout", headers=cookie(login_id, **DASH))
        assert r.status_code == 200
        cleared = r.headers["set-cookie"].lower()
        assert cleared.startswith("wad_dashboard=") and "max-age=0" in cleared
        r = await client.get("/api/dashboard/info", headers=cookie(login_id))
        assert r.status_code == 401


async def test_info_tells_the_page_about_the_daemon(wad: Running) -> None:
    login_id = await sign_in(wad)
    r = await wad.client.get("/api/dashboard/info", headers=cookie(login_id))
    assert r.status_code == 200
    data = r.json()
    assert data["engine"] == "simulator" and data["qrInterval"] == 20.0
    assert data["expiresAt"].endswith("Z")
    wad.client.cookies.clear()
    r = await wad.client.get("/api/dashboard/info", headers=wad.admin)
    assert r.status_code == 200 and r.json()["expiresAt"] is None


async def test_page_and_assets_are_served_with_a_strict_policy(wad: Running) -> None:
    r = await wad.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert re.search(r'<script type="module" src="/static/v/[0-9a-f]{16}/js/app.js">', r.text)
    r = await wad.client.get("/static/js/app.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    r = await wad.client.get("/static/nope.js")
    assert r.status_code == 404


async def test_logins_expire_and_keep_only_hashes() -> None:
    now = [1000.0]
    logins = DashboardLogins(lifetime=60, clock=lambda: now[0])
    login_id, expires = logins.open()
    assert expires == 1060.0 and logins.expires(login_id) == 1060.0
    assert login_id not in repr(vars(logins))
    now[0] = 1060.0
    assert logins.expires(login_id) is None and len(logins) == 0
    other, _ = logins.open()
    await logins.close(other)
    assert logins.expires(other) is None


async def test_login_state_answers_without_credentials(wad: Running) -> None:
    r = await wad.client.get("/api/dashboard/login")
    assert r.status_code == 200
    assert r.json() == {"success": True, "signedIn": False, "tokenFile": None}  # WAD_ADMIN_TOKEN
    login_id = await sign_in(wad)
    wad.client.cookies.clear()
    r = await wad.client.get("/api/dashboard/login", headers=cookie(login_id))
    assert r.json()["signedIn"] is True
    r = await wad.client.get("/api/dashboard/login", headers=cookie("stale"))
    assert r.json()["signedIn"] is False


async def test_rotating_the_admin_token_ends_every_sign_in(tmp_path, nursery) -> None:
    from conftest import make_config, start_daemon

    from wad.engines.simulator.engine import SimulatorEngine

    config = make_config(tmp_path)
    config.admin_token = None  # from <state>/admin.token, so it can be rotated
    running = await start_daemon(nursery, config, SimulatorEngine())
    token = config.admin_token_file.read_text().strip()
    r = await running.client.post("/api/dashboard/login", json={"token": token}, headers=DASH)
    login_id = r.cookies["wad_dashboard"]
    assert (await running.client.get("/api/sessions", headers=cookie(login_id))).status_code == 200
    new = running.daemon.services.status.rotate_admin_token()
    assert new != token
    assert (await running.client.get("/api/sessions", headers=cookie(login_id))).status_code == 401
    r = await running.client.post("/api/dashboard/login", json={"token": new}, headers=DASH)
    assert r.status_code == 200
    await running.close()


async def test_a_login_is_signed_and_good_only_where_its_key_is() -> None:
    now = [1000.0]
    clock = lambda: now[0]  # noqa: E731
    logins = DashboardLogins(lifetime=60, clock=clock)
    login_id, expires = logins.open()
    stamp, nonce, mac = login_id.split(".")
    assert logins.expires(login_id) == expires
    # Another expiry, nonce or signature under the same key: forged.
    for forged in (
        f"{int(stamp) + 3600}.{nonce}.{mac}",
        f"{stamp}.{nonce[:-1]}A.{mac}",
        f"{stamp}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
        f"{stamp}.{nonce}",
        "",
        "x" * 500,
    ):
        assert logins.expires(forged) is None, forged
    # Another process (a restarted daemon) has another key: signed out.
    assert DashboardLogins(lifetime=60, clock=clock).expires(login_id) is None
    # The nodes of a cluster share theirs: signed in on each.
    shared = [DashboardLogins(lifetime=60, clock=clock, key=lambda: b"k" * 32) for _ in "ab"]
    on_a, _ = shared[0].open()
    assert shared[1].expires(on_a) == expires
    told: list[tuple[str, float]] = []

    async def publish(digest: str, until: float) -> None:
        told.append((digest, until))

    shared[1].publish = publish
    await shared[1].close(on_a)  # ended where it was signed out, and told to the others
    assert shared[1].expires(on_a) is None and shared[0].expires(on_a) == expires
    assert told == [(hashlib.sha256(on_a.encode()).hexdigest(), expires)]
    shared[0].ended_elsewhere(dict(told))  # what every node's listener hands over
    assert shared[0].expires(on_a) is None


def test_rotating_the_admin_token_ends_every_login() -> None:
    generation = [0]
    logins = DashboardLogins(generation=lambda: generation[0])
    login_id, _ = logins.open()
    assert logins.expires(login_id) is not None
    generation[0] += 1
    assert logins.expires(login_id) is None
