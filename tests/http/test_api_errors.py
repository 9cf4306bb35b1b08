"""Every bad input gets a clear 4xx in the seed's error shape; nothing leaks a key."""

from __future__ import annotations

import logging

import pytest
from conftest import ADMIN_TOKEN, Running


async def connected_with_key(wad: Running, device_id: str = "dev1") -> str:
    return await wad.connected_key(device_id)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize(
    "device_id", ["", "-starts-with-dash", "a" * 65, "has space", "../etc", "dot.dot", "ü"]
)
async def test_bad_device_ids(wad: Running, device_id: str) -> None:
    r = await wad.client.post("/api/sessions", json={"deviceId": device_id}, headers=wad.admin)
    assert "deviceId" in error_of(r, 400)


async def test_create_errors(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    assert "Malformed JSON" in error_of(
        await c.post("/api/sessions", content=b'{"deviceId": ', headers=admin), 400
    )
    assert "object" in error_of(await c.post("/api/sessions", json=["x"], headers=admin), 400)
    assert "deviceId" in error_of(await c.post("/api/sessions", json={}, headers=admin), 400)
    assert "deviceId" in error_of(
        await c.post("/api/sessions", json={"deviceId": 5}, headers=admin), 400
    )
    await c.post("/api/sessions", json={"deviceId": "dup"}, headers=admin)
    assert "exists" in error_of(
        await c.post("/api/sessions", json={"deviceId": "dup"}, headers=admin), 409
    )
    big = {"deviceId": "x", "pad": "y" * 70_000}
    assert "too large" in error_of(await c.post("/api/sessions", json=big, headers=admin), 413)


async def test_auth_errors(wad: Running) -> None:
    c = wad.client
    assert "Missing" in error_of(await c.get("/api/sessions"), 401)
    assert "Invalid" in error_of(
        await c.get("/api/sessions", headers={"Authorization": "Bearer nope"}), 401
    )
    assert "Missing" in error_of(
        await c.get("/api/sessions", headers={"Authorization": "Basic abc"}), 401
    )
    key = await connected_with_key(wad)
    # A session key is not the admin token.
    error_of(await c.get("/api/sessions", headers={"Authorization": f"Bearer {key}"}), 403)
    # The admin token cannot send.
    r = await c.post(
        "/api/messages/send",
        headers=wad.admin,
        json={"deviceId": "dev1", "number": "1234567890", "message": "hi"},
    )
    assert "admin token cannot send" in error_of(r, 403)
    # Another session's key cannot send for this one.
    await c.post("/api/sessions", json={"deviceId": "dev2"}, headers=wad.admin)
    other = (await c.put("/api/sessions/dev2/api-key", json={}, headers=wad.admin)).json()["apiKey"]
    r = await c.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {other}"},
        json={"deviceId": "dev1", "number": "1234567890", "message": "hi"},
    )
    error_of(r, 401)


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        ({"number": "12345", "message": "hi"}, 400, "number"),
        ({"number": "1234567890123456", "message": "hi"}, 400, "number"),
        ({"number": "12345abc90", "message": "hi"}, 400, "number"),
        ({"number": ["1"], "message": "hi"}, 400, "number"),
        ({"number": "+1 555-000-1111", "message": ""}, 400, "message"),
        ({"number": "15550001111", "message": "x" * 4097}, 400, "4096"),
        ({"number": "15550001111"}, 400, "message"),
        ({"number": "15550000000", "message": "hi"}, 400, "not on WhatsApp"),
    ],
)
async def test_send_errors(wad: Running, payload: dict, status: int, words: str) -> None:
    key = await connected_with_key(wad)
    r = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", **payload},
    )
    assert words in error_of(r, status)


async def test_send_accepts_formatted_numbers(wad: Running) -> None:
    key = await connected_with_key(wad)
    r = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": "+1 555-000-1111", "message": "x" * 4096},
    )
    assert r.status_code == 200 and r.json()["to"] == "15550001111@s.whatsapp.net"


async def test_not_connected_and_not_found(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    key = await connected_with_key(wad)
    wad.engine.link("dev1").drop()
    await wad.wait_state("dev1", "disconnected")
    r = await c.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": "1234567890", "message": "hi"},
    )
    assert error_of(r, 409) == "Session not connected"
    error_of(await c.get("/api/sessions/ghost", headers=admin), 404)
    error_of(await c.get("/api/sessions/ghost/qr", headers=admin), 404)
    error_of(await c.delete("/api/sessions/ghost", headers=admin), 404)
    error_of(await c.put("/api/sessions/ghost/api-key", json={}, headers=admin), 404)
    error_of(await c.get("/api/nothing-here", headers=admin), 404)
    error_of(await c.patch("/api/sessions", headers=admin), 405)


async def test_qr_and_scan_conflicts(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    await connected_with_key(wad)
    assert "connected" in error_of(await c.get("/api/sessions/dev1/qr", headers=admin), 409)
    r = await c.post(
        "/api/simulator/sessions/dev1/scan", json={"phoneNumber": "15550001111"}, headers=admin
    )
    assert "not waiting" in error_of(r, 409)


async def test_custom_keys(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    await connected_with_key(wad)
    error_of(
        await c.put("/api/sessions/dev1/api-key", json={"apiKey": "short"}, headers=admin), 400
    )
    custom = "my-custom-key-0123456789"
    r = await c.put("/api/sessions/dev1/api-key", json={"apiKey": custom}, headers=admin)
    assert r.json()["apiKey"] == custom
    await c.post("/api/sessions", json={"deviceId": "dev2"}, headers=admin)
    r = await c.put("/api/sessions/dev2/api-key", json={"apiKey": custom}, headers=admin)
    error_of(r, 409)
    r = await c.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {custom}"},
        json={"deviceId": "dev1", "number": "1234567890", "message": "hi"},
    )
    assert r.status_code == 200


async def test_keys_never_logged_or_listed(wad: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = await connected_with_key(wad)
    await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": "1234567890", "message": "hi"},
    )
    await wad.client.get("/api/sessions", headers={"Authorization": f"Bearer {key}x"})
    listing = (await wad.client.get("/api/sessions", headers=wad.admin)).text
    detail = (await wad.client.get("/api/sessions/dev1", headers=wad.admin)).text
    for text in (caplog.text, listing, detail):
        assert key not in text and key[8:20] not in text
        assert ADMIN_TOKEN not in text
    for path in wad.daemon.config.state_dir.glob("wad.db*"):  # the database and its WAL
        assert key.encode() not in path.read_bytes()
