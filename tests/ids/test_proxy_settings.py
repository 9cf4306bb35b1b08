"""A session's proxy through a real daemon: validated with clear 400s, stored sealed
(the password never in wad.db), shown masked, handed to that session's engine link
only, and a change reconnects the session."""

from __future__ import annotations

from conftest import Running

PROXY = "socks5://alice:s3cr%40t-pw@proxy.example:1080"
MASKED = "socks5://alice:***@proxy.example:1080"


async def test_proxy_is_sealed_masked_and_given_to_its_session_only(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    r = await c.post("/api/sessions", json={"deviceId": "p1", "proxy": PROXY}, headers=admin)
    assert r.status_code == 201, r.text
    await c.post("/api/sessions", json={"deviceId": "p2"}, headers=admin)
    await wad.wait_state("p1", "waiting_qr")
    await wad.wait_state("p2", "waiting_qr")
    one = (await c.get("/api/sessions/p1", headers=admin)).json()["session"]
    assert one["proxy"] == MASKED and one["history"] == "none"
    listed = {
        s["deviceId"]: s for s in (await c.get("/api/sessions", headers=admin)).json()["sessions"]
    }
    assert listed["p1"]["proxy"] == MASKED and listed["p2"]["proxy"] is None
    # The engine got the real URL, for p1 only.
    assert wad.engine.link("p1").options["proxy"] == PROXY
    assert wad.engine.link("p2").options.get("proxy") is None
    # Sealed at rest: neither the password nor the URL is anywhere in the database files.
    state = wad.daemon.config.db_path.parent
    for name in ("wad.db", "wad.db-wal"):
        path = state / name
        if path.exists():
            assert b"s3cr" not in path.read_bytes() and b"proxy.example" not in path.read_bytes()
    assert (state / "secrets.key").stat().st_mode & 0o077 == 0

    # A change reconnects the session with the new proxy; null removes it.
    first = wad.engine.link("p1")
    with wad.daemon.events.subscribe() as events:
        r = await c.patch("/api/sessions/p1", json={"proxy": "http://10.0.0.9:3128"}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["session"]["proxy"] == "http://10.0.0.9:3128"
        async for event in events:
            if event.device_id == "p1" and event.payload.get("state") == "waiting_qr":
                break
    assert wad.engine.link("p1") is not first
    assert wad.engine.link("p1").options["proxy"] == "http://10.0.0.9:3128"
    r = await c.patch("/api/sessions/p1", json={"proxy": None}, headers=admin)
    assert r.json()["session"]["proxy"] is None


async def test_bad_proxies_are_clear_400s(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    await c.post("/api/sessions", json={"deviceId": "p3"}, headers=admin)
    cases = [
        ("ftp://proxy.example:21", "scheme"),
        ("socks5://proxy.example", "port"),
        ("http://proxy.example:70000", "Port out of range"),
        ("http://:1080", "host"),
        ("http://bad_host:1080", "host"),
        ("http://proxy.example:3128/path", "no path"),
        ("socks5://:pw@proxy.example:1080", "user name"),
        ("proxy.example:1080", "scheme"),
    ]
    for value, words in cases:
        r = await c.patch("/api/sessions/p3", json={"proxy": value}, headers=admin)
        assert r.status_code == 400, (value, r.text)
        assert words in r.json()["error"] and "socks5://user:password@host" in r.json()["error"]
        assert r.json()["code"] == "bad_request"
    r = await c.post(
        "/api/sessions", json={"deviceId": "p4", "proxy": "gopher://x:1"}, headers=admin
    )
    assert r.status_code == 400
    assert (await c.get("/api/sessions/p4", headers=admin)).status_code == 404


async def test_history_setting_values(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    r = await c.post("/api/sessions", json={"deviceId": "h1", "history": "full"}, headers=admin)
    assert r.status_code == 201, r.text
    assert (await c.get("/api/sessions/h1", headers=admin)).json()["session"]["history"] == "full"
    r = await c.patch("/api/sessions/h1", json={"history": "recent"}, headers=admin)
    assert r.json()["session"]["history"] == "recent"
    r = await c.patch("/api/sessions/h1", json={"history": "everything"}, headers=admin)
    assert r.status_code == 400
